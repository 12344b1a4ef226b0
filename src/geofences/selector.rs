//! [`Selector`]: which vehicles a fence applies to.

use std::collections::BTreeSet;

/// The vehicles a fence applies to: every vehicle when both sets are empty; otherwise those
/// of a listed type and those listed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub vehicle_types: BTreeSet<String>,
    pub vehicle_ids: BTreeSet<String>,
}

/// A vehicle as a selector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub vehicle_id: &'a str,
    /// `None` for a vehicle that is not registered (any more): only an empty selector or
    /// its id applies to it.
    pub vehicle_type: Option<&'a str>,
}

impl Selector {
    /// Every vehicle.
    pub fn all() -> Selector {
        Selector::default()
    }

    pub fn is_all(&self) -> bool {
        self.vehicle_types.is_empty() && self.vehicle_ids.is_empty()
    }

    pub fn applies(&self, s: Subject<'_>) -> bool {
        self.is_all()
            || self.vehicle_ids.contains(s.vehicle_id)
            || s.vehicle_type
                .is_some_and(|t| self.vehicle_types.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn types_or_ids() {
        let van = |id| Subject {
            vehicle_id: id,
            vehicle_type: Some("van"),
        };
        assert!(Selector::all().applies(van("a")));
        let s = Selector {
            vehicle_types: set(&["truck"]),
            vehicle_ids: set(&["a"]),
        };
        assert!(s.applies(van("a")));
        assert!(!s.applies(van("b")));
        assert!(s.applies(Subject {
            vehicle_id: "b",
            vehicle_type: Some("truck"),
        }));
        assert!(!s.applies(Subject {
            vehicle_id: "b",
            vehicle_type: None,
        }));
    }
}
