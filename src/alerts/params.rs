//! What a rule of each kind watches: [`RuleKind`] and its typed [`Params`], read from the
//! rule's `params` object and range-checked, with the offending field named in the error.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::InvalidRule;

/// A rule's kind; immutable once the rule exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "AlertRuleKind")]
pub enum RuleKind {
    Speeding,
    Dtc,
    LowFuel,
    FuelDrop,
    Overheat,
    Offline,
    Geofence,
    MaintenanceDue,
    LicenceExpiring,
}

impl RuleKind {
    pub const ALL: [RuleKind; 9] = [
        RuleKind::Speeding,
        RuleKind::Dtc,
        RuleKind::LowFuel,
        RuleKind::FuelDrop,
        RuleKind::Overheat,
        RuleKind::Offline,
        RuleKind::Geofence,
        RuleKind::MaintenanceDue,
        RuleKind::LicenceExpiring,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Speeding => "speeding",
            RuleKind::Dtc => "dtc",
            RuleKind::LowFuel => "low_fuel",
            RuleKind::FuelDrop => "fuel_drop",
            RuleKind::Overheat => "overheat",
            RuleKind::Offline => "offline",
            RuleKind::Geofence => "geofence",
            RuleKind::MaintenanceDue => "maintenance_due",
            RuleKind::LicenceExpiring => "licence_expiring",
        }
    }

    pub fn parse(s: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What an alert of this kind is about.
    pub fn subject_type(self) -> SubjectType {
        match self {
            RuleKind::LicenceExpiring => SubjectType::Driver,
            _ => SubjectType::Vehicle,
        }
    }

    /// Whether the daemons' timer evaluates it (the others come from readings or schedules).
    pub fn is_timed(self) -> bool {
        matches!(
            self,
            RuleKind::Offline | RuleKind::LicenceExpiring | RuleKind::MaintenanceDue
        )
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "AlertSubjectType")]
pub enum SubjectType {
    Vehicle,
    Driver,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Vehicle => "vehicle",
            SubjectType::Driver => "driver",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectType> {
        match s {
            "vehicle" => Some(SubjectType::Vehicle),
            "driver" => Some(SubjectType::Driver),
            _ => None,
        }
    }
}

/// `speeding`: over `limit_kmh` (or, without it, the speed limit of the scope's fence the
/// vehicle is in) for at least `min_duration_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SpeedingParams")]
pub struct Speeding {
    /// Above 0, at most 400 km/h; absent: each scope fence's `speed_limit_kmh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 400.0))]
    pub limit_kmh: Option<f64>,
    /// 0 to 3,600 s (default 0: the first reading over the limit).
    #[serde(default)]
    #[schemars(range(min = 0, max = 3600))]
    pub min_duration_s: i32,
}

/// A diagnostic trouble code's family: powertrain, chassis, body, network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[schemars(rename = "DtcFamily")]
pub enum DtcFamily {
    P,
    C,
    B,
    U,
}

/// `dtc`: a new diagnostic trouble code appears; only these families or codes when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DtcParams")]
pub struct Dtc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4))]
    pub families: Option<Vec<DtcFamily>>,
    /// Codes such as `P0301` (`^[PCBU][0-9A-F]{4}$`), at most 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 1000),
        inner(regex(pattern = r"^[PCBU][0-9A-F]{4}$"))
    )]
    pub codes: Option<Vec<String>>,
}

/// `low_fuel`: the fuel level below `below_pct`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LowFuelParams")]
pub struct LowFuel {
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 100.0))]
    pub below_pct: f64,
}

/// `fuel_drop`: the fuel level falls by at least `drop_pct` within `within_s` while parked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "FuelDropParams")]
pub struct FuelDrop {
    #[schemars(extend("exclusiveMinimum" = 0), range(max = 100.0))]
    pub drop_pct: f64,
    /// 60 s to 1 day.
    #[schemars(range(min = 60, max = 86400))]
    pub within_s: i32,
}

/// `overheat`: coolant at or above `coolant_c` for at least `min_duration_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OverheatParams")]
pub struct Overheat {
    /// 50 to 200 °C.
    #[schemars(range(min = 50.0, max = 200.0))]
    pub coolant_c: f64,
    #[serde(default)]
    #[schemars(range(min = 0, max = 3600))]
    pub min_duration_s: i32,
}

/// `offline`: no reading for `after_min` minutes from a vehicle with a driver on duty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OfflineParams")]
pub struct Offline {
    /// 1 minute to 7 days.
    #[schemars(range(min = 1, max = 10080))]
    pub after_min: i32,
}

/// Which crossings of a `geofence` rule's fences raise an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "GeofenceCrossing")]
pub enum Crossing {
    Entered,
    Exited,
    Both,
}

/// `geofence`: a vehicle enters or exits one of the scope's fences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GeofenceParams")]
pub struct Geofence {
    pub on: Crossing,
}

/// `maintenance_due`: a maintenance schedule of the vehicle is due (no parameters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MaintenanceDueParams")]
pub struct MaintenanceDue {}

/// `licence_expiring`: a driver's licence expires within `within_days` days (or has expired).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "LicenceExpiringParams")]
pub struct LicenceExpiring {
    /// 0 (expires today) to 365 days.
    #[schemars(range(min = 0, max = 365))]
    pub within_days: i32,
}

/// A rule's parameters, typed by its kind.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "AlertRuleParams")]
pub enum Params {
    Speeding(Speeding),
    Dtc(Dtc),
    LowFuel(LowFuel),
    FuelDrop(FuelDrop),
    Overheat(Overheat),
    Offline(Offline),
    Geofence(Geofence),
    MaintenanceDue(MaintenanceDue),
    LicenceExpiring(LicenceExpiring),
}

impl Params {
    /// The JSON Schema of `kind`'s parameters, and whether a rule of that kind must give them
    /// (some field has no default).
    pub fn schema(kind: RuleKind, g: &mut schemars::SchemaGenerator) -> (schemars::Schema, bool) {
        match kind {
            RuleKind::Speeding => (g.subschema_for::<Speeding>(), false),
            RuleKind::Dtc => (g.subschema_for::<Dtc>(), false),
            RuleKind::LowFuel => (g.subschema_for::<LowFuel>(), true),
            RuleKind::FuelDrop => (g.subschema_for::<FuelDrop>(), true),
            RuleKind::Overheat => (g.subschema_for::<Overheat>(), true),
            RuleKind::Offline => (g.subschema_for::<Offline>(), true),
            RuleKind::Geofence => (g.subschema_for::<Geofence>(), true),
            RuleKind::MaintenanceDue => (g.subschema_for::<MaintenanceDue>(), false),
            RuleKind::LicenceExpiring => (g.subschema_for::<LicenceExpiring>(), true),
        }
    }

    /// Reads and checks `raw` as the parameters of `kind`; errors name `params.<field>`.
    pub fn parse(kind: RuleKind, raw: &Value) -> Result<Params, InvalidRule> {
        if !raw.is_object() {
            return Err(InvalidRule::new("params", "must be an object"));
        }
        let params = match kind {
            RuleKind::Speeding => Params::Speeding(read(raw)?),
            RuleKind::Dtc => Params::Dtc(read(raw)?),
            RuleKind::LowFuel => Params::LowFuel(read(raw)?),
            RuleKind::FuelDrop => Params::FuelDrop(read(raw)?),
            RuleKind::Overheat => Params::Overheat(read(raw)?),
            RuleKind::Offline => Params::Offline(read(raw)?),
            RuleKind::Geofence => Params::Geofence(read(raw)?),
            RuleKind::MaintenanceDue => Params::MaintenanceDue(read(raw)?),
            RuleKind::LicenceExpiring => Params::LicenceExpiring(read(raw)?),
        };
        params.check()?;
        Ok(params.normalized())
    }

    /// The parameters as stored in `alert_rules.params`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("parameters serialize")
    }

    fn check(&self) -> Result<(), InvalidRule> {
        match self {
            Params::Speeding(p) => {
                if let Some(v) = p.limit_kmh {
                    number("params.limit_kmh", v, 0.0, false, 400.0)?;
                }
                int("params.min_duration_s", p.min_duration_s, 0, 3_600)
            }
            Params::Dtc(p) => {
                if let Some(f) = &p.families {
                    if f.is_empty() || f.len() > 4 {
                        return Err(InvalidRule::new("params.families", "1 to 4 families"));
                    }
                }
                if let Some(codes) = &p.codes {
                    if codes.is_empty() || codes.len() > 1_000 {
                        return Err(InvalidRule::new("params.codes", "1 to 1000 codes"));
                    }
                    if let Some(bad) = codes.iter().find(|c| !is_dtc(c)) {
                        return Err(InvalidRule::new(
                            "params.codes",
                            format!("{:?} is not a code like P0301", truncate(bad)),
                        ));
                    }
                }
                Ok(())
            }
            Params::LowFuel(p) => number("params.below_pct", p.below_pct, 0.0, false, 100.0),
            Params::FuelDrop(p) => {
                number("params.drop_pct", p.drop_pct, 0.0, false, 100.0)?;
                int("params.within_s", p.within_s, 60, 86_400)
            }
            Params::Overheat(p) => {
                number("params.coolant_c", p.coolant_c, 50.0, true, 200.0)?;
                int("params.min_duration_s", p.min_duration_s, 0, 3_600)
            }
            Params::Offline(p) => int("params.after_min", p.after_min, 1, 10_080),
            Params::LicenceExpiring(p) => int("params.within_days", p.within_days, 0, 365),
            Params::Geofence(_) | Params::MaintenanceDue(_) => Ok(()),
        }
    }

    /// Lists sorted and without repeats, so equal rules store equal parameters.
    fn normalized(mut self) -> Params {
        if let Params::Dtc(p) = &mut self {
            if let Some(f) = &mut p.families {
                f.sort();
                f.dedup();
            }
            if let Some(c) = &mut p.codes {
                c.sort();
                c.dedup();
            }
        }
        self
    }
}

fn read<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, InvalidRule> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "params".to_string()
        } else {
            format!("params.{path}")
        };
        let message = e.into_inner().to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        InvalidRule::new(field, message)
    })
}

fn number(field: &str, v: f64, min: f64, min_inclusive: bool, max: f64) -> Result<(), InvalidRule> {
    let above = if min_inclusive { v >= min } else { v > min };
    if !(v.is_finite() && above && v <= max) {
        let low = if min_inclusive { "at least" } else { "above" };
        return Err(InvalidRule::new(
            field,
            format!("{low} {min} and at most {max}"),
        ));
    }
    Ok(())
}

fn int(field: &str, v: i32, min: i32, max: i32) -> Result<(), InvalidRule> {
    if !(min..=max).contains(&v) {
        return Err(InvalidRule::new(field, format!("must be in {min}..={max}")));
    }
    Ok(())
}

/// `^[PCBU][0-9A-F]{4}$`, the telemetry's rule for a code.
pub fn is_dtc(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && matches!(b[0], b'P' | b'C' | b'B' | b'U')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
}

/// At most 20 characters of client text, for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn field(kind: RuleKind, raw: Value) -> String {
        Params::parse(kind, &raw).unwrap_err().field
    }

    #[test]
    fn each_kind_reads_its_own_parameters() {
        let p = Params::parse(RuleKind::Speeding, &json!({"limit_kmh": 90})).unwrap();
        assert_eq!(
            p,
            Params::Speeding(Speeding {
                limit_kmh: Some(90.0),
                min_duration_s: 0
            })
        );
        assert_eq!(
            p.to_value(),
            json!({"limit_kmh": 90.0, "min_duration_s": 0})
        );
        let p = Params::parse(
            RuleKind::Dtc,
            &json!({"families": ["U", "P", "U"], "codes": ["P0301", "B1000", "P0301"]}),
        )
        .unwrap();
        assert_eq!(
            p.to_value(),
            json!({"families": ["P", "U"], "codes": ["B1000", "P0301"]})
        );
        assert_eq!(
            Params::parse(RuleKind::Dtc, &json!({})).unwrap().to_value(),
            json!({})
        );
        for (kind, ok) in [
            (RuleKind::LowFuel, json!({"below_pct": 10})),
            (
                RuleKind::FuelDrop,
                json!({"drop_pct": 8.5, "within_s": 600}),
            ),
            (
                RuleKind::Overheat,
                json!({"coolant_c": 110, "min_duration_s": 60}),
            ),
            (RuleKind::Offline, json!({"after_min": 15})),
            (RuleKind::Geofence, json!({"on": "both"})),
            (RuleKind::MaintenanceDue, json!({})),
            (RuleKind::LicenceExpiring, json!({"within_days": 0})),
        ] {
            Params::parse(kind, &ok).unwrap_or_else(|e| panic!("{kind:?} {ok}: {e}"));
        }
    }

    #[test]
    fn refusals_name_the_field() {
        use RuleKind::*;
        let cases = [
            (Speeding, json!({"limit_kmh": 0}), "params.limit_kmh"),
            (Speeding, json!({"limit_kmh": 401}), "params.limit_kmh"),
            (Speeding, json!({"limit_kmh": "fast"}), "params.limit_kmh"),
            (
                Speeding,
                json!({"min_duration_s": -1}),
                "params.min_duration_s",
            ),
            (
                Speeding,
                json!({"min_duration_s": 3601}),
                "params.min_duration_s",
            ),
            (
                Speeding,
                json!({"min_duration_s": 1.5}),
                "params.min_duration_s",
            ),
            (Speeding, json!({"limit": 90}), "params.limit"),
            (Dtc, json!({"families": []}), "params.families"),
            (Dtc, json!({"families": ["X"]}), "params.families[0]"),
            (Dtc, json!({"codes": ["p0301"]}), "params.codes"),
            (
                Dtc,
                json!({"codes": ["P0301'; DROP TABLE alerts"]}),
                "params.codes",
            ),
            (Dtc, json!({"codes": []}), "params.codes"),
            (LowFuel, json!({}), "params"),
            (LowFuel, json!({"below_pct": 100.5}), "params.below_pct"),
            (LowFuel, json!({"below_pct": null}), "params.below_pct"),
            (
                FuelDrop,
                json!({"drop_pct": 5, "within_s": 59}),
                "params.within_s",
            ),
            (
                FuelDrop,
                json!({"drop_pct": 0, "within_s": 600}),
                "params.drop_pct",
            ),
            (Overheat, json!({"coolant_c": 49.9}), "params.coolant_c"),
            (Overheat, json!({"coolant_c": 1e300}), "params.coolant_c"),
            (Offline, json!({"after_min": 0}), "params.after_min"),
            (Offline, json!({"after_min": 10081}), "params.after_min"),
            (Offline, json!({"after_min": 1e12}), "params.after_min"),
            (Geofence, json!({"on": "inside"}), "params.on"),
            (Geofence, json!({}), "params"),
            (MaintenanceDue, json!({"every_km": 1}), "params.every_km"),
            (
                LicenceExpiring,
                json!({"within_days": 366}),
                "params.within_days",
            ),
            (
                LicenceExpiring,
                json!({"within_days": -1}),
                "params.within_days",
            ),
        ];
        for (kind, raw, want) in cases {
            assert_eq!(field(kind, raw.clone()), want, "{kind:?} {raw}");
        }
        assert_eq!(field(Offline, json!([15])), "params");
        assert_eq!(field(Offline, json!("x")), "params");
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for k in RuleKind::ALL {
            assert_eq!(RuleKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
        }
        assert_eq!(RuleKind::parse("Speeding"), None);
        assert_eq!(
            RuleKind::LicenceExpiring.subject_type(),
            SubjectType::Driver
        );
        assert_eq!(RuleKind::Offline.subject_type(), SubjectType::Vehicle);
    }

    proptest! {
        /// Whatever the number, `offline.after_min` is accepted exactly in 1..=10080, and
        /// what is accepted reads back as stored.
        #[test]
        fn offline_accepts_exactly_its_range(n in -100_000i64..100_000) {
            let r = Params::parse(RuleKind::Offline, &json!({"after_min": n}));
            prop_assert_eq!(r.is_ok(), (1..=10_080).contains(&n));
            if let Ok(p) = r {
                prop_assert_eq!(Params::parse(RuleKind::Offline, &p.to_value()).unwrap(), p);
            }
        }

        /// A percentage is accepted exactly above 0 and at most 100.
        #[test]
        fn low_fuel_accepts_exactly_its_range(v in -1e3f64..1e3) {
            let r = Params::parse(RuleKind::LowFuel, &json!({"below_pct": v}));
            prop_assert_eq!(r.is_ok(), v > 0.0 && v <= 100.0);
        }

        /// Codes are accepted exactly when every one follows the telemetry's rule.
        #[test]
        fn dtc_codes_follow_the_telemetry_rule(codes in proptest::collection::vec("[PCBUX][0-9A-Fa-f]{3,5}", 1..5)) {
            let r = Params::parse(RuleKind::Dtc, &json!({"codes": codes}));
            prop_assert_eq!(r.is_ok(), codes.iter().all(|c| is_dtc(c)));
        }

        /// Arbitrary JSON never panics: it is accepted or refused naming a `params` field.
        #[test]
        fn any_object_is_read_or_refused_by_field(kind in 0usize..9, key in "[a-z_]{1,12}", v in prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            ".{0,8}".prop_map(|s| json!(s)),
            Just(json!(null)),
            Just(json!([])),
        ]) {
            let kind = RuleKind::ALL[kind];
            if let Err(e) = Params::parse(kind, &json!({ key: v })) {
                prop_assert!(e.field.starts_with("params"), "{}", e.field);
            }
        }
    }
}
