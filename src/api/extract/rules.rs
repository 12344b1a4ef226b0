//! The rules a body's fields are checked against beyond their types (text, e-mail, money,
//! currency, time windows, vehicle ids), and the JSON Schema patterns that state the same
//! rules in the OpenAPI document, each tested against its rule.

use chrono::{DateTime, Utc};
use const_format::concatcp;

use crate::api::error::ApiError;
use crate::vehicle_id::VehicleId;

/// A required text of at most `max` characters, counted before trimming (as the schema's
/// `maxLength` counts), returned trimmed: what is left after trimming must be non-empty and
/// free of control characters. [`TEXT_PATTERN`] says the same to the OpenAPI document.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

// The `pattern`s of the body schemas (`#[schemars(regex(pattern = ...))]`), each the exact rule
// of the check named. They are ECMA 262 regexes that Python's `re` and Rust's `regex` read the
// same way: explicit classes with `\xHH`/`\uHHHH` escapes, no `\s` (whose set differs between
// them), anchored at both ends.

/// Rust's `char::is_whitespace` (the White_Space property), what `str::trim` removes.
const WHITESPACE: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Rust's `char::is_control` (general category Cc).
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// Any run of whitespace, as trimming removes it around a text.
const SPACES: &str = concatcp!("[", WHITESPACE, "]*");
/// A character that is neither whitespace nor control.
const VISIBLE: &str = concatcp!("[^", WHITESPACE, CONTROL, "]");
/// A character that is not a control character.
const NOT_CONTROL: &str = concatcp!("[^", CONTROL, "]");

/// [`text`]: around optional whitespace, a part that starts and ends with a character that is
/// neither whitespace nor control and has no control character inside. (Whitespace that is
/// also a control character, like a tab or U+0085, may surround it: trimming removes it.)
pub const TEXT_PATTERN: &str = concatcp!(
    "^",
    SPACES,
    VISIBLE,
    "(?:",
    NOT_CONTROL,
    "*",
    VISIBLE,
    ")?",
    SPACES,
    "$"
);

/// A customer's email ([`email`]): [`text`] whose trimmed value holds an `@` and no
/// whitespace.
pub const EMAIL_PATTERN: &str = concatcp!("^", SPACES, VISIBLE, "*@", VISIBLE, "*", SPACES, "$");

/// A VIN as the registry takes it: trimmed and upper-cased, then 17 characters of ISO 3779's
/// alphabet (0-9, A-Z without I, O, Q), so lower case is accepted. The check digit is not a
/// pattern.
pub const VIN_PATTERN: &str = concatcp!("^", SPACES, "[0-9A-HJ-NPR-Za-hj-npr-z]{17}", SPACES, "$");

/// [`vehicle_id`].
/// Free text PostgreSQL can store (filters compared as text): anything but U+0000.
pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";

pub const VEHICLE_ID_PATTERN: &str = crate::vehicle_id::PATTERN;

/// [`currency`].
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

/// An integer in `min..=max`.
pub fn int_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if value < min || value > max {
        return Err(ApiError::invalid(
            field,
            format!("must be in {min}..={max}"),
        ));
    }
    Ok(())
}

/// Money amounts in minor units: never negative, at most 10^12 (ten billion in a
/// two-decimal currency), so every product the pricing makes fits in an i64.
pub const MAX_MONEY: i64 = 1_000_000_000_000;

pub fn money(field: &str, value: i64) -> Result<(), ApiError> {
    int_range(field, value, 0, MAX_MONEY)
}

/// An ISO 4217 alphabetic code: three upper-case letters (membership is not checked).
pub fn currency(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be an ISO 4217 code like EUR",
        ))
    }
}

/// A customer's email: a [`text`] of at most 254 characters whose trimmed value holds an `@`
/// and no whitespace ([`EMAIL_PATTERN`]). Returns it trimmed.
pub fn email(field: &str, value: &str) -> Result<String, ApiError> {
    let email = text(field, value, 254)?;
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(ApiError::invalid(field, "not an email address"));
    }
    Ok(email)
}

/// A time window `[from, to)`: non-empty, at most `max_days` long.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>, max_days: i64) -> Result<(), ApiError> {
    if to <= from {
        return Err(ApiError::invalid("ends_at", "must be after the start"));
    }
    if (to - from).num_days() > max_days {
        return Err(ApiError::invalid(
            "ends_at",
            format!("window longer than {max_days} days"),
        ));
    }
    Ok(())
}

/// The vehicle id of docs/telemetry.md: 1–64 characters of `[A-Za-z0-9._-]`.
pub fn vehicle_id(field: &str, id: &str) -> Result<(), ApiError> {
    if VehicleId::is_valid(id) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "1-64 characters of [A-Za-z0-9._-]",
        ))
    }
}

/// For a `PATCH` field that `null` clears: tells "absent" (`None`, with `#[serde(default)]`)
/// from "null" (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Strings whose fate under [`text`] is worth pinning down, with the pattern's verdict.
    fn text_cases() -> Vec<String> {
        let mut cases: Vec<String> = [
            "",
            " ",
            "\t",
            "\n",
            " \t \u{a0}",
            "a",
            " a ",
            "\ta\n",
            "a b",
            "a\tb",
            "a\u{0}",
            "\u{0}a",
            "a\u{85}",
            "\u{85}a",
            "a\u{85}b",
            "\u{a0}",
            "\u{a0}a\u{a0}",
            "a\u{a0}b",
            "\u{feff}",
            "a\u{1c}",
            "\u{1f}",
            "\u{7f}",
            "a\u{9f}b",
            "\u{2028}a\u{3000}",
            "\u{200b}",
            "é",
            "日本",
            "\u{1f600}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every character below U+3100 and a few above, alone, inside and around text.
        let chars = (0u32..0x3100)
            .chain([0xfeff, 0xfffd, 0x1_0000, 0x1_f600, 0x10_ffff])
            .filter_map(char::from_u32);
        for c in chars {
            cases.push(c.to_string());
            cases.push(format!("a{c}"));
            cases.push(format!("{c}a"));
            cases.push(format!("a{c}b"));
            cases.push(format!(" {c} "));
        }
        cases
    }

    fn full_match(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("the pattern compiles")
    }

    #[test]
    fn the_text_pattern_is_the_text_rule() {
        let re = full_match(TEXT_PATTERN);
        for s in text_cases() {
            assert_eq!(
                re.is_match(&s),
                text("f", &s, 100).is_ok(),
                "{s:?}: pattern and text() disagree"
            );
        }
        let accepted = [
            "a",
            " a ",
            "\ta\n",
            "a b",
            "a\u{85}",
            "\u{a0}a\u{a0}",
            "é",
            "\u{feff}",
        ];
        for s in accepted {
            assert!(re.is_match(s) && text("f", s, 100).is_ok(), "{s:?}");
        }
        let refused = [
            "", " ", "\t", "\u{a0}", "a\u{0}", "a\u{85}b", "a\u{1c}", "\u{2028}",
        ];
        for s in refused {
            assert!(!re.is_match(s) && text("f", s, 100).is_err(), "{s:?}");
        }
    }

    #[test]
    fn text_length_counts_characters_before_trimming() {
        // The schema's maxLength counts the raw string in characters; so does text().
        let at_max = "é".repeat(5);
        assert_eq!(text("f", &at_max, 5).unwrap(), at_max);
        assert!(text("f", &"日".repeat(6), 5).is_err());
        assert!(text("f", "abcd ", 5).is_ok());
        assert!(text("f", " abcd", 5).is_ok());
        let e = text("f", " abcd ", 5).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.contains("at most 5 characters"), "{}", e.message);
        assert!(text("f", "\u{1f600}\u{1f600}", 2).is_ok());
        assert!(text("f", "\u{1f600}\u{1f600}\u{1f600}", 2).is_err());
        // Trimmed on the way in.
        assert_eq!(text("f", " a b\u{a0}", 5).unwrap(), "a b");
    }

    #[test]
    fn the_email_pattern_is_the_email_rule() {
        let re = full_match(EMAIL_PATTERN);
        let mut cases = text_cases();
        for c in [
            "a@b",
            " a@b ",
            "@",
            "a@",
            "@b",
            "a @b",
            "a@b\u{a0}",
            "a\u{a0}@b",
            "a@@b",
            "a@b\u{85}",
            "a@\u{0}",
        ] {
            cases.push(c.to_string());
        }
        for s in text_cases() {
            cases.push(format!("x@{s}"));
            cases.push(format!("{s}@y"));
        }
        for s in cases {
            assert_eq!(
                re.is_match(&s),
                email("email", &s).is_ok(),
                "{s:?}: pattern and email() disagree"
            );
        }
    }

    #[test]
    fn the_vehicle_id_and_currency_patterns_are_their_rules() {
        let id = full_match(VEHICLE_ID_PATTERN);
        let cur = full_match(CURRENCY_PATTERN);
        let mut cases = text_cases();
        cases.extend(["truck-7", "a.b_c-D9", "EUR", "eur", "EURO", "EU"].map(String::from));
        cases.extend(["x".repeat(64), "x".repeat(65), "é".repeat(32), "x\n".into()]);
        for s in cases {
            assert_eq!(id.is_match(&s), vehicle_id("id", &s).is_ok(), "{s:?}");
            assert_eq!(cur.is_match(&s), currency("c", &s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn the_vin_pattern_is_the_vin_rule_but_its_check_digit() {
        use crate::api::vehicles::vin;
        let re = full_match(VIN_PATTERN);
        let mut cases = text_cases();
        for c in text_cases() {
            cases.push(format!("1M8GDM9AXKP04278{c}"));
            cases.push(format!("{c}1m8gdm9axkp042788"));
        }
        cases.extend(["1M8GDM9AXKP042788", "1M8GDM9AXKP0427881", "1M8GDM9A"].map(String::from));
        for s in cases {
            // What the registry's check_vin does before the check digit.
            let upper = s.trim().to_ascii_uppercase();
            assert_eq!(re.is_match(&s), vin::check_digit(&upper).is_ok(), "{s:?}");
        }
    }

    /// The body schemas of `GET /openapi.json` carry the rules above, `Option` fields included
    /// (for their non-null value).
    #[test]
    fn body_schemas_carry_the_handler_rules() {
        let (_router, api) = crate::api::table();
        let outside = crate::api::probes::unversioned(crate::api::routes::Routes::new(), true);
        let doc = crate::api::openapi::document(&crate::api::all_docs(&outside, &api));
        let prop = |schema: &str, field: &str| {
            let p = &doc["components"]["schemas"][schema]["properties"][field];
            assert!(p.is_object(), "{schema}.{field} is not documented");
            p.clone()
        };
        for (schema, field, max) in [
            ("CreateVehicle", "plate", 20),
            ("UpdateVehicle", "plate", 20),
            ("UpdateVehicle", "type", 50),
            ("CreateDriver", "name", 200),
            ("UpdateDriver", "licence_number", 50),
            ("CreatePlan", "name", 200),
            ("Schedule", "description", 2000),
            ("Part", "part_name", 200),
            ("JobRequirements", "vehicle_type", 50),
        ] {
            let p = prop(schema, field);
            assert_eq!(p["pattern"], TEXT_PATTERN, "{schema}.{field}");
            assert_eq!(p["maxLength"], max, "{schema}.{field}");
        }
        for (schema, field) in [
            ("CreateVehicle", "id"),
            ("Reserve", "vehicle_id"),
            ("UpdateDriver", "current_vehicle_id"),
        ] {
            assert_eq!(
                prop(schema, field)["pattern"],
                VEHICLE_ID_PATTERN,
                "{schema}.{field}"
            );
        }
        assert_eq!(
            prop("UpdateDriver", "current_vehicle_id")["type"],
            json!(["string", "null"])
        );
        assert_eq!(prop("UpdateVehicle", "vin")["pattern"], VIN_PATTERN);
        assert_eq!(prop("CreateCustomer", "email")["pattern"], EMAIL_PATTERN);
        assert_eq!(prop("Pay", "currency")["pattern"], CURRENCY_PATTERN);
        assert_eq!(
            prop("Pay", "method")["enum"],
            json!(["cash", "card", "transfer"])
        );
        assert_eq!(prop("Pay", "amount")["minimum"], 1);
        assert_eq!(prop("UpdateVehicle", "year")["minimum"], 1886);
        assert_eq!(prop("Point", "lon")["maximum"], 180.0);
    }
}
