//! `Shape::contains` and `Shape::distance_outside_m` against PostGIS on the same GeoJSON:
//! `ST_Covers(ST_GeomFromGeoJSON(..)::geography, point::geography)` and
//! `ST_Distance(.., use_spheroid => false)`, for random star polygons (around the poles,
//! across the antimeridian, with holes, MultiPolygons, a few thousand kilometres wide) and
//! circles (`ST_DWithin` / `ST_Distance` to the centre).
//!
//! Points within 5 cm of a boundary are skipped for `contains` (where the two may round to
//! different sides). Distances must agree within 1e-6 relative + 5 cm: PostGIS's sphere is
//! the WGS84 mean radius 6,371,008.771 m, ours 6,371,008.8 m (a 4.5e-9 difference).

use fleetd::geofences::{destination, Point, Shape};
use fleetd::live::geo::{haversine_m, unit_vector};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::common::TestDb;

/// Closer than this to a boundary, `contains` is not compared (metres).
const NEAR_BOUNDARY_M: f64 = 0.05;

/// One polygon test case: (name, GeoJSON, centre to scatter points around, scatter radius).
type Case = (String, Value, (f64, f64), f64);

fn star(rng: &mut StdRng, lat: f64, lon: f64, k: usize, r0: f64, r1: f64) -> Vec<[f64; 2]> {
    let mut ring: Vec<[f64; 2]> = (0..k)
        .map(|i| {
            let bearing = (i as f64 + rng.gen_range(0.0..0.4)) * 360.0 / k as f64;
            let (la, lo) = destination(lat, lon, bearing, rng.gen_range(r0..r1));
            [lo, la]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

fn polygon_cases(rng: &mut StdRng) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, v: Value, c: (f64, f64), r: f64| {
        cases.push((name.to_string(), v, c, r));
    };
    let sites = [
        ("city", 48.86, 2.35, 5_000.0),
        ("north pole", 89.9, 45.0, 30_000.0),
        ("south pole", -89.95, -120.0, 30_000.0),
        ("antimeridian", -17.0, 179.99, 40_000.0),
        ("antimeridian north", 65.0, -179.9, 80_000.0),
        ("equator", 0.0, 0.0, 200_000.0),
        ("wide", 30.0, 100.0, 2_000_000.0),
    ];
    for (name, lat, lon, r) in sites {
        let k = rng.gen_range(5..40);
        let ring = star(rng, lat, lon, k, r * 0.5, r);
        add(
            name,
            json!({"type": "Polygon", "coordinates": [ring]}),
            (lat, lon),
            r * 1.5,
        );
    }
    // Holes, the hole around the pole.
    for (name, lat, lon, r) in [
        ("hole", 45.0, 7.0, 20_000.0),
        ("pole hole", 89.99, 0.0, 50_000.0),
    ] {
        let outer = star(rng, lat, lon, 12, r * 0.8, r);
        let hole = star(rng, lat, lon, 6, r * 0.2, r * 0.4);
        let v = json!({"type": "Polygon", "coordinates": [outer, hole]});
        add(name, v, (lat, lon), r * 1.3);
    }
    // Two parts on either side of the antimeridian, one over the pole.
    let a = star(rng, 10.0, 179.8, 8, 5_000.0, 15_000.0);
    let b = star(rng, 10.0, -179.8, 8, 5_000.0, 15_000.0);
    let c = star(rng, -89.9, 0.0, 8, 5_000.0, 15_000.0);
    let v = json!({"type": "MultiPolygon", "coordinates": [[a], [b]]});
    add("multi antimeridian", v, (10.0, 180.0), 40_000.0);
    let a = star(rng, -89.5, 0.0, 8, 5_000.0, 15_000.0);
    let v = json!({"type": "MultiPolygon", "coordinates": [[a], [c]]});
    add("multi south", v, (-89.7, 0.0), 60_000.0);
    // Larger than any fence: the interior rule on big rings. A ring along lat -30 (the south
    // cap is the smaller side), one along lat 2 (a cap just under a hemisphere), and a band
    // 10° high around 300° of the equator.
    let parallel = |lat: f64, k: usize| -> Vec<[f64; 2]> {
        let mut ring: Vec<[f64; 2]> = (0..=k)
            .map(|i| [-180.0 + 360.0 * (i % k) as f64 / k as f64, lat])
            .collect();
        ring[k] = ring[0];
        ring
    };
    let v = json!({"type": "Polygon", "coordinates": [parallel(-30.0, 12)]});
    add("lat -30 ring", v, (-60.0, 0.0), 8_000_000.0);
    let v = json!({"type": "Polygon", "coordinates": [parallel(2.0, 36)]});
    add("lat 2 ring", v, (0.0, 0.0), 8_000_000.0);
    let mut band: Vec<[f64; 2]> = (0..=10).map(|i| [-150.0 + 30.0 * i as f64, 5.0]).collect();
    band.extend((0..=10).map(|i| [150.0 - 30.0 * i as f64, -5.0]));
    band.push(band[0]);
    let v = json!({"type": "Polygon", "coordinates": [band]});
    add("equatorial band", v, (0.0, 0.0), 3_000_000.0);
    cases
}

fn scatter(rng: &mut StdRng, (lat, lon): (f64, f64), r: f64, n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| {
            if i % 10 == 9 {
                // A few anywhere on the globe.
                let z: f64 = rng.gen_range(-1.0..1.0);
                Point::new(z.asin().to_degrees(), rng.gen_range(-180.0..180.0))
            } else {
                let (la, lo) =
                    destination(lat, lon, rng.gen_range(0.0..360.0), rng.gen_range(0.0..r));
                Point::new(la, lo)
            }
        })
        .collect()
}

/// Points 0.1 to 20 m either side of the middle of the outer ring's edges, moved along the
/// great circle from the centre through that middle.
fn near_edges(rng: &mut StdRng, geojson: &Value, (lat, lon): (f64, f64), n: usize) -> Vec<Point> {
    let rings = match geojson["type"].as_str() {
        Some("MultiPolygon") => &geojson["coordinates"][0],
        _ => &geojson["coordinates"],
    };
    let ring: Vec<[f64; 3]> = rings[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| unit_vector(p[1].as_f64().unwrap(), p[0].as_f64().unwrap()))
        .collect();
    (0..n)
        .map(|_| {
            let i = rng.gen_range(0..ring.len() - 1);
            let (a, b) = (ring[i], ring[i + 1]);
            let m = [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
            let len = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
            let (mlat, mlon) = (
                (m[2] / len).asin().to_degrees(),
                m[1].atan2(m[0]).to_degrees(),
            );
            let (p1, p2) = (lat.to_radians(), mlat.to_radians());
            let dl = (mlon - lon).to_radians();
            let bearing = (dl.sin() * p2.cos())
                .atan2(p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos())
                .to_degrees();
            let delta = rng.gen_range(0.1..20.0) * if rng.gen() { 1.0 } else { -1.0 };
            let d = haversine_m(lat, lon, mlat, mlon) + delta;
            let (la, lo) = destination(lat, lon, bearing, d);
            Point::new(la, lo)
        })
        .collect()
}

const QUERY: &str = "
    SELECT ST_Covers(g, pt), ST_Distance(g, pt, false),
           ST_Distance(ST_Boundary(g::geometry)::geography, pt, false)
      FROM (SELECT ST_GeomFromGeoJSON($1::text)::geography AS g) f,
           unnest($2::float8[], $3::float8[]) WITH ORDINALITY AS t(lon, lat, i),
           LATERAL (SELECT ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS pt) p
     ORDER BY i";

fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= 1e-6 * theirs + 0.05
}

#[tokio::test]
async fn shapes_agree_with_postgis_geography() {
    let db = TestDb::create().await;
    let client = db.client().await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(16);
    let (mut compared, mut skipped, mut inside, mut near) = (0, 0, 0, 0);
    let mut worst = 0f64;
    let mut failures = Vec::new();
    for (name, geojson, centre, r) in polygon_cases(&mut rng) {
        let shape = Shape::from_geojson(&geojson).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut points = scatter(&mut rng, centre, r, 200);
        points.extend(near_edges(&mut rng, &geojson, centre, 100));
        let lons: Vec<f64> = points.iter().map(|p| p.lon).collect();
        let lats: Vec<f64> = points.iter().map(|p| p.lat).collect();
        let rows = client
            .query(QUERY, &[&geojson.to_string(), &lons, &lats])
            .await
            .unwrap();
        assert_eq!(rows.len(), points.len());
        for (p, row) in points.iter().zip(rows) {
            let (covers, dist, to_boundary): (bool, f64, f64) =
                (row.get(0), row.get(1), row.get(2));
            let (ours, our_dist) = (shape.contains(*p), shape.distance_outside_m(*p));
            if to_boundary < NEAR_BOUNDARY_M {
                skipped += 1;
                continue;
            }
            compared += 1;
            inside += covers as usize;
            near += (to_boundary < 20.0) as usize;
            if dist > 0.0 {
                worst = worst.max((our_dist - dist).abs() / dist);
            }
            if ours != covers || !close(our_dist, dist) {
                failures.push(format!(
                    "{name} {p:?}: contains {ours} vs ST_Covers {covers}, {our_dist} m vs ST_Distance {dist} m"
                ));
            }
        }
    }
    eprintln!(
        "polygons: {compared} points compared ({inside} inside, {near} within 20 m of a \
         boundary), {skipped} within {NEAR_BOUNDARY_M} m skipped; largest relative distance \
         difference {worst:e}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        inside > compared / 5 && inside < compared * 4 / 5,
        "{inside} of {compared}"
    );
    assert!(near > 1000, "{near}");
}

#[tokio::test]
async fn circles_agree_with_postgis_distance() {
    let db = TestDb::create().await;
    let client = db.client().await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .unwrap();
    let mut rng = StdRng::seed_from_u64(61);
    let mut failures = Vec::new();
    for (lat, lon, r) in [
        (89.999, 0.0, 5_000.0),
        (0.0, 180.0, 100_000.0),
        (-45.0, 10.0, 1.0),
        (12.0, -60.0, 1_000_000.0),
    ] {
        let shape = Shape::circle(Point::new(lat, lon), r).unwrap();
        let points = scatter(&mut rng, (lat, lon), r * 1.5 + 10.0, 300);
        let lons: Vec<f64> = points.iter().map(|p| p.lon).collect();
        let lats: Vec<f64> = points.iter().map(|p| p.lat).collect();
        let rows = client
            .query(
                "SELECT ST_Distance(ST_MakePoint($1, $2)::geography, ST_MakePoint(lon, lat)::geography, false)
                   FROM unnest($3::float8[], $4::float8[]) WITH ORDINALITY AS t(lon, lat, i) ORDER BY i",
                &[&lon, &lat, &lons, &lats],
            )
            .await
            .unwrap();
        for (p, row) in points.iter().zip(rows) {
            let to_centre: f64 = row.get(0);
            let theirs = (to_centre - r).max(0.0);
            let ours = shape.distance_outside_m(*p);
            let boundary = (to_centre - r).abs() < NEAR_BOUNDARY_M;
            if !close(ours, theirs) || (!boundary && shape.contains(*p) != (to_centre <= r)) {
                failures.push(format!(
                    "circle ({lat}, {lon}, {r}) {p:?}: {ours} vs {theirs}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
