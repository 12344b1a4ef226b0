use super::*;
use crate::live::geo;

fn at(lat: f64, lon: f64, ts: i64) -> Position {
    Position {
        lat,
        lon,
        ts,
        speed_kmh: Some(30.0),
        heading_deg: None,
    }
}

#[test]
fn only_a_newer_ts_replaces() {
    let mut ix = LiveIndex::new();
    assert_eq!(ix.upsert("v1", at(1.0, 1.0, 10)), Ok(Upsert::Inserted));
    assert_eq!(
        ix.upsert("v1", at(2.0, 2.0, 20)),
        Ok(Upsert::Replaced(at(1.0, 1.0, 10)))
    );
    assert_eq!(
        ix.upsert("v1", at(3.0, 3.0, 15)),
        Ok(Upsert::Ignored(at(2.0, 2.0, 20)))
    );
    assert_eq!(
        ix.upsert("v1", at(3.0, 3.0, 20)),
        Ok(Upsert::Ignored(at(2.0, 2.0, 20)))
    );
    assert_eq!(ix.position("v1"), Some(at(2.0, 2.0, 20)));
    assert_eq!(ix.len(), 1);
    ix.check_consistency().unwrap();
}

#[test]
fn a_leaf_is_no_larger_than_an_inner_node() {
    use rstar::{ParentNode, RTreeNode};
    use std::mem::size_of;
    // Leaves live inline in their parent's Vec of nodes, each as large as an inner node.
    assert_eq!(size_of::<TreeBox>(), 28);
    assert_eq!(
        size_of::<RTreeNode<TreeBox>>(),
        size_of::<ParentNode<TreeBox>>()
    );
    assert!(size_of::<Option<Record>>() <= 56);
}

#[test]
fn small_moves_stay_in_step() {
    let mut ix = LiveIndex::new();
    for i in 0..500 {
        let f = i as f64;
        ix.upsert(&format!("v{i}"), at(f * 0.01, f * 0.01, 1))
            .unwrap();
    }
    for step in 2..50 {
        for i in 0..500 {
            let f = i as f64 + step as f64 * 0.0001;
            ix.upsert(&format!("v{i}"), at(f * 0.01, f * 0.01, step))
                .unwrap();
        }
    }
    ix.check_consistency().unwrap();
    assert_eq!(ix.position("v3").unwrap().ts, 49);
}

#[test]
fn small_moves_skip_the_tree() {
    let mut ix = LiveIndex::new();
    ix.upsert("v", at(5.0, 5.0, 1)).unwrap();
    let before = ix.tree.iter().copied().collect::<Vec<_>>();
    ix.upsert("v", at(5.0, 5.0, 2)).unwrap();
    ix.upsert("v", at(5.0001, 5.0001, 3)).unwrap();
    assert_eq!(ix.tree.iter().copied().collect::<Vec<_>>(), before);
    ix.upsert("v", at(5.01, 5.0, 4)).unwrap();
    assert_ne!(ix.tree.iter().copied().collect::<Vec<_>>(), before);
    assert_eq!(ix.position("v").unwrap().ts, 4);
    ix.check_consistency().unwrap();
}

#[test]
fn rejects_bad_input_without_changing_anything() {
    let mut ix = LiveIndex::new();
    assert_eq!(ix.upsert("a/b", at(0.0, 0.0, 1)), Err(LiveError::VehicleId));
    assert!(matches!(
        ix.upsert("v", at(f64::NAN, 0.0, 1)),
        Err(LiveError::Latitude(_))
    ));
    assert!(matches!(
        ix.upsert("v", at(0.0, 180.5, 1)),
        Err(LiveError::Longitude(_))
    ));
    assert!(ix.is_empty());
    ix.check_consistency().unwrap();
}

#[test]
fn remove_and_reuse_slots() {
    let mut ix = LiveIndex::new();
    ix.upsert("a", at(1.0, 1.0, 1)).unwrap();
    ix.upsert("b", at(2.0, 2.0, 1)).unwrap();
    assert_eq!(ix.remove("a"), Some(at(1.0, 1.0, 1)));
    assert_eq!(ix.remove("a"), None);
    ix.upsert("c", at(3.0, 3.0, 1)).unwrap();
    assert_eq!(ix.slot_end(), 2, "slot of a reused");
    assert_eq!(ix.len(), 2);
    ix.check_consistency().unwrap();
    assert_eq!(ix.evict_older_than(2), 2);
    assert!(ix.is_empty() && ix.tree.size() == 0);
}

#[test]
fn load_keeps_the_newest_and_counts() {
    let items = vec![
        ("a", at(1.0, 1.0, 5)),
        ("a", at(9.0, 9.0, 3)),
        ("b", at(2.0, 2.0, 1)),
        ("b", at(4.0, 4.0, 2)),
        ("bad id", at(0.0, 0.0, 1)),
        ("c", at(100.0, 0.0, 1)),
    ];
    let (ix, outcome) = LiveIndex::load(items);
    assert_eq!(
        outcome,
        BatchOutcome {
            inserted: 2,
            replaced: 1,
            ignored: 1,
            rejected: 2
        }
    );
    assert_eq!(ix.position("a"), Some(at(1.0, 1.0, 5)));
    assert_eq!(ix.position("b"), Some(at(4.0, 4.0, 2)));
    ix.check_consistency().unwrap();
    let mut ix = ix;
    ix.upsert("a", at(-1.0, 179.9, 6)).unwrap();
    ix.check_consistency().unwrap();
}

#[test]
fn missing_speed_and_heading_round_trip() {
    let mut ix = LiveIndex::new();
    let p = Position {
        lat: 0.0,
        lon: 0.0,
        ts: 1,
        speed_kmh: None,
        heading_deg: Some(270.0),
    };
    ix.upsert("v", p).unwrap();
    assert_eq!(ix.position("v"), Some(p));
}

#[test]
fn eviction_forgets_only_the_silent_everywhere() {
    let mut ix = LiveIndex::new();
    for i in 0..3000 {
        // Every third vehicle last reported at ts 100, the others at 200.
        let ts = if i % 3 == 0 { 100 } else { 200 };
        ix.upsert(&format!("v{i}"), at(0.001 * i as f64, 0.0, ts))
            .unwrap();
    }
    assert_eq!(ix.evict_older_than(100), 0, "the cutoff is exclusive");
    assert_eq!(ix.evict_older_than(150), 1000);
    assert_eq!(ix.len(), 2000);
    ix.check_consistency().unwrap();
    assert_eq!(ix.position("v3"), None);
    assert_eq!(ix.position("v4").map(|p| p.ts), Some(200));
    assert!(ix.iter().all(|(_, p)| p.ts == 200));
    let nobody = |_: &str, _: &Position| None::<()>;
    let q = super::super::NearestQuery {
        lat: 0.0,
        lon: 0.0,
        k: 1000,
        radius_m: geo::MAX_RADIUS_M,
        now_us: 200,
        staleness: std::time::Duration::from_secs(1),
        max_examined: usize::MAX,
    };
    let found = ix.nearest(&q, &nobody).unwrap();
    assert_eq!(found.examined, 2000, "evicted vehicles left the tree too");
    // A silent vehicle that reports again comes back, in a reused slot.
    ix.upsert("v3", at(0.003, 0.0, 300)).unwrap();
    assert!(ix.slot_end() <= 3000);
    ix.check_consistency().unwrap();
    assert_eq!(ix.evict_older_than(i64::MAX), 2001);
    assert!(ix.is_empty() && ix.tree.size() == 0);
}
