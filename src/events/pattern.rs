//! Event type patterns of a subscription: `rental.completed` (one type), `rental.*` (every
//! type of an aggregate), `*.completed` (one outcome of every aggregate) and `*` (all).
//! Webhooks match them in PostgreSQL (`webhooks_like`, migrations/0018_webhooks.sql), the stream
//! with [`matches`]; both read `*` as "anything".

use super::Kind;

/// Patterns one subscription or stream may name.
pub const MAX_PATTERNS: usize = 64;
/// Longest pattern.
pub const MAX_LEN: usize = 100;

/// Whether `event_type` matches `pattern` (already [`parse`]d).
pub fn matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (Some((pa, pw)), Some((ta, tw))) = (pattern.split_once('.'), event_type.split_once('.'))
    else {
        return false;
    };
    (pa == "*" || pa == ta) && (pw == "*" || pw == tw)
}

/// Whether any of `patterns` matches `event_type`.
pub fn any_matches(patterns: &[String], event_type: &str) -> bool {
    patterns.iter().any(|p| matches(p, event_type))
}

/// Checks `patterns` and returns them without repeats, in the order given. Each must be
/// well formed and match at least one event type fleetd emits (a typo is refused rather than
/// silently matching nothing). The error names the pattern at fault.
pub fn parse(patterns: &[String]) -> Result<Vec<String>, String> {
    if patterns.is_empty() {
        return Err("name at least one event type or pattern (\"*\" for all)".into());
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(format!("at most {MAX_PATTERNS} patterns"));
    }
    let mut out: Vec<String> = Vec::with_capacity(patterns.len());
    for p in patterns {
        let shown: String = p.chars().take(MAX_LEN).collect();
        if p.len() > MAX_LEN {
            return Err(format!("pattern {shown:?}… is longer than {MAX_LEN} bytes"));
        }
        if !well_formed(p) {
            return Err(format!(
                "pattern {shown:?} is not `aggregate.event`, `aggregate.*`, `*.event` or `*` \
                 (lower-case letters and underscores)"
            ));
        }
        if !Kind::ALL.iter().any(|k| matches(p, k.as_str())) {
            return Err(format!(
                "pattern {shown:?} matches no event type (docs/events.md lists them)"
            ));
        }
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A regular expression matching exactly the patterns [`parse`] accepts one by one (for the
/// OpenAPI document): `*`, `*.*`, `*.{event}`, `{aggregate}.*` and every type, from the
/// catalogue.
pub fn regex() -> String {
    let mut aggregates: Vec<&str> = Vec::new();
    let mut events: Vec<&str> = Vec::new();
    for kind in Kind::ALL {
        let (a, e) = kind
            .as_str()
            .split_once('.')
            .expect("types are aggregate.event");
        if !aggregates.contains(&a) {
            aggregates.push(a);
        }
        if !events.contains(&e) {
            events.push(e);
        }
    }
    let types: Vec<String> = Kind::ALL
        .iter()
        .map(|k| k.as_str().replace('.', "\\."))
        .collect();
    format!(
        "^(\\*|\\*\\.\\*|\\*\\.({})|({})\\.\\*|{})$",
        events.join("|"),
        aggregates.join("|"),
        types.join("|")
    )
}

fn well_formed(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let segment = |s: &str| {
        s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    };
    matches!(p.split_once('.'), Some((a, w)) if segment(a) && segment(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matching() {
        assert!(matches("*", "rental.completed"));
        assert!(matches("rental.*", "rental.completed"));
        assert!(matches("*.completed", "rental.completed"));
        assert!(matches("rental.completed", "rental.completed"));
        assert!(!matches("rental.completed", "rental.cancelled"));
        assert!(!matches("rental.*", "vehicle.registered"));
        assert!(!matches("*.completed", "rental.completed_late"));
        assert!(!matches("rental_x.*", "rental.completed"));
        assert!(matches("*.*", "job.offered"));
    }

    #[test]
    fn parses_and_dedups() {
        assert_eq!(
            parse(&v(&["rental.*", "job.offered", "rental.*"])).unwrap(),
            v(&["rental.*", "job.offered"])
        );
        assert_eq!(parse(&v(&["*"])).unwrap(), v(&["*"]));
    }

    #[test]
    fn the_documented_regex_accepts_what_parse_accepts() {
        let re = regex::Regex::new(&regex()).unwrap();
        let mut candidates = vec!["*".to_string(), "*.*".into(), "".into(), "**".into()];
        let parts = [
            "*",
            "rental",
            "job",
            "completed",
            "offered",
            "nope",
            "",
            "re.ntal",
        ];
        for a in parts {
            for e in parts {
                candidates.push(format!("{a}.{e}"));
            }
            candidates.push(a.to_string());
        }
        for kind in Kind::ALL {
            candidates.push(kind.as_str().to_string());
            candidates.push(format!("{}x", kind.as_str()));
        }
        for c in candidates {
            assert_eq!(
                re.is_match(&c),
                parse(std::slice::from_ref(&c)).is_ok(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn refuses_malformed_unknown_and_hostile() {
        for bad in [
            "",
            "rental",
            "rental.",
            ".completed",
            "Rental.*",
            "rental.**",
            "rental.*.x",
            "rental.%",
            "rental._%",
            "rental.comp*",
            "rental completed",
            "rental.completed\n",
            "rental.completed'; DROP TABLE webhooks; --",
            "rentl.*",
            "rental.exploded",
            "*.exploded",
            "ééé.*",
        ] {
            assert!(parse(&v(&[bad])).is_err(), "{bad:?} accepted");
        }
        assert!(parse(&[]).is_err());
        assert!(parse(&vec!["*".to_string(); MAX_PATTERNS + 1]).is_err());
        let long = format!("rental.{}", "a".repeat(200));
        let e = parse(&[long]).unwrap_err();
        assert!(e.len() < 300, "{e}");
    }
}
