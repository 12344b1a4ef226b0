//! Diagnostic trouble codes: which ones a rule watches, and which are present and new.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Verdict;

/// The codes a rule watches: of these families (`P`, `C`, `B`, `U`) and these codes; an
/// empty set does not restrict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub families: BTreeSet<char>,
    pub codes: BTreeSet<String>,
}

impl Filter {
    pub fn watches(&self, code: &str) -> bool {
        (self.codes.is_empty() || self.codes.contains(code))
            && (self.families.is_empty()
                || code
                    .chars()
                    .next()
                    .is_some_and(|c| self.families.contains(&c.to_ascii_uppercase())))
    }
}

/// What a code's first letter says: the system it concerns.
pub fn family(code: &str) -> &'static str {
    match code.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('P') => "powertrain",
        Some('C') => "chassis",
        Some('B') => "body",
        Some('U') => "network",
        _ => "unknown",
    }
}

/// The watched codes of the last reading that reported codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub codes: BTreeSet<String>,
}

impl Seen {
    /// Watched codes present: raise, naming them all and the new ones (absent from the
    /// previous report); none: clear.
    pub fn step(&mut self, filter: &Filter, reported: &[String]) -> Verdict {
        let now: BTreeSet<String> = reported
            .iter()
            .filter(|c| filter.watches(c))
            .cloned()
            .collect();
        let new: Vec<&String> = now.difference(&self.codes).collect();
        let verdict = if now.is_empty() {
            Verdict::Clear
        } else {
            let describe = |c: &String| json!({"code": c, "family": family(c)});
            Verdict::Raise(json!({
                "codes": now.iter().map(describe).collect::<Vec<_>>(),
                "new": new.iter().map(|c| describe(c)).collect::<Vec<_>>(),
            }))
        };
        self.codes = now;
        verdict
    }
}
