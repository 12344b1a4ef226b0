//! One JSON object to one reading, in a single pass without a `serde_json::Value` tree.
//!
//! The visitors here accept every JSON type for every field and record a wrong type instead of
//! failing, so a deserialization error can only be a syntax error or a number beyond `f64`:
//! the caller maps it to `MalformedJson`, everything else becomes a precise [`Fault`].
//! Values that are not read are skipped with `IgnoredAny`, which serde_json walks without
//! recursion, so hostile nesting cannot exhaust the stack.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::validate::{self, Fault, GpsInput, ObdInput};
use super::values::{Any, DtcList, Num, NumValue, TsValue};
use crate::ingest::reading::{Dtc, Kind, RejectReason};

/// The fields of docs/telemetry.md; which ones are known depends on the topic's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Ts,
    Lat,
    Lon,
    SpeedKmh,
    HeadingDeg,
    AltM,
    AccuracyM,
    Rpm,
    CoolantC,
    FuelPct,
    EngineLoadPct,
    OdometerKm,
    Dtc,
}

const FIELDS: usize = 13;

impl Field {
    fn lookup(kind: Kind, name: &str) -> Option<Field> {
        let field = match (kind, name) {
            (_, "ts") => Field::Ts,
            (_, "speed_kmh") => Field::SpeedKmh,
            (Kind::Gps, "lat") => Field::Lat,
            (Kind::Gps, "lon") => Field::Lon,
            (Kind::Gps, "heading_deg") => Field::HeadingDeg,
            (Kind::Gps, "alt_m") => Field::AltM,
            (Kind::Gps, "accuracy_m") => Field::AccuracyM,
            (Kind::Obd, "rpm") => Field::Rpm,
            (Kind::Obd, "coolant_c") => Field::CoolantC,
            (Kind::Obd, "fuel_pct") => Field::FuelPct,
            (Kind::Obd, "engine_load_pct") => Field::EngineLoadPct,
            (Kind::Obd, "odometer_km") => Field::OdometerKm,
            (Kind::Obd, "dtc") => Field::Dtc,
            _ => return None,
        };
        Some(field)
    }

    fn name(self) -> &'static str {
        match self {
            Field::Ts => "ts",
            Field::Lat => "lat",
            Field::Lon => "lon",
            Field::SpeedKmh => "speed_kmh",
            Field::HeadingDeg => "heading_deg",
            Field::AltM => "alt_m",
            Field::AccuracyM => "accuracy_m",
            Field::Rpm => "rpm",
            Field::CoolantC => "coolant_c",
            Field::FuelPct => "fuel_pct",
            Field::EngineLoadPct => "engine_load_pct",
            Field::OdometerKm => "odometer_km",
            Field::Dtc => "dtc",
        }
    }
}

/// Everything read from one object, before any rule is applied.
struct Fields<'de> {
    duplicate: Option<Cow<'de, str>>,
    /// Ignored keys, kept only to detect duplicates among them.
    unknown: UnknownKeys<'de>,
    seen: [bool; FIELDS],
    ts: Option<Result<i64, Fault>>,
    nums: [Num; FIELDS],
    dtc: Option<Result<Vec<Dtc>, Fault>>,
}

impl<'de> Fields<'de> {
    fn new() -> Self {
        Fields {
            duplicate: None,
            unknown: UnknownKeys::default(),
            seen: [false; FIELDS],
            ts: None,
            nums: [Num::Absent; FIELDS],
            dtc: None,
        }
    }

    fn check_duplicates(&mut self) -> Result<(), Fault> {
        if self.duplicate.is_none() {
            self.duplicate = self.unknown.duplicate();
        }
        match &self.duplicate {
            Some(key) => Err(Fault::new(
                RejectReason::InvalidField,
                format!("duplicate field {}", validate::echo(key)),
            )),
            None => Ok(()),
        }
    }

    fn ts(&mut self) -> Result<i64, Fault> {
        self.ts.take().unwrap_or_else(|| Err(Fault::missing("ts")))
    }

    fn required(&self, field: Field) -> Result<f64, Fault> {
        match self.nums[field as usize] {
            Num::Value(v) => Ok(v),
            Num::Absent => Err(Fault::missing(field.name())),
            Num::Null => Err(wrong_type(field.name(), "null")),
            Num::Wrong(found) => Err(wrong_type(field.name(), found)),
        }
    }

    /// `null` counts as absent for optional fields.
    fn optional(&self, field: Field) -> Result<Option<f64>, Fault> {
        match self.nums[field as usize] {
            Num::Value(v) => Ok(Some(v)),
            Num::Absent | Num::Null => Ok(None),
            Num::Wrong(found) => Err(wrong_type(field.name(), found)),
        }
    }
}

/// The ignored keys of one object. Trackers add a few extras (`sats`, `battery`, ...): up to
/// [`UnknownKeys::INLINE`] of them are compared as they come without allocating; beyond that
/// they spill to a vector that is sorted once, so 10,000 keys do not cost 10,000².
#[derive(Default)]
struct UnknownKeys<'de> {
    inline: [Cow<'de, str>; UnknownKeys::INLINE],
    len: usize,
    spill: Vec<Cow<'de, str>>,
    duplicate: Option<Cow<'de, str>>,
}

impl<'de> UnknownKeys<'de> {
    const INLINE: usize = 8;

    fn insert(&mut self, key: Cow<'de, str>) {
        if self.duplicate.is_some() {
            return;
        }
        if self.inline[..self.len].contains(&key) {
            self.duplicate = Some(key);
        } else if self.len < Self::INLINE {
            self.inline[self.len] = key;
            self.len += 1;
        } else {
            self.spill.push(key);
        }
    }

    fn duplicate(&mut self) -> Option<Cow<'de, str>> {
        if self.duplicate.is_none() && !self.spill.is_empty() {
            self.spill.sort_unstable();
            self.duplicate = self
                .spill
                .windows(2)
                .find(|pair| pair[0] == pair[1])
                .map(|pair| pair[0].clone());
        }
        self.duplicate.take()
    }
}

fn wrong_type(field: &str, found: &str) -> Fault {
    Fault::new(
        RejectReason::InvalidField,
        format!("{field} must be a number, found {found}"),
    )
}

/// Reads a GPS object: duplicates, then `ts`, then wire types; ranges are checked later.
pub(crate) fn gps<'de, D: Deserializer<'de>>(de: D) -> Result<Result<GpsInput, Fault>, D::Error> {
    let mut f = Fields::new();
    de.deserialize_map(ObjectVisitor(Kind::Gps, &mut f))?;
    Ok(gps_input(&mut f))
}

fn gps_input(f: &mut Fields<'_>) -> Result<GpsInput, Fault> {
    f.check_duplicates()?;
    Ok(GpsInput {
        ts: f.ts()?,
        lat: f.required(Field::Lat)?,
        lon: f.required(Field::Lon)?,
        speed_kmh: f.optional(Field::SpeedKmh)?,
        heading_deg: f.optional(Field::HeadingDeg)?,
        alt_m: f.optional(Field::AltM)?,
        accuracy_m: f.optional(Field::AccuracyM)?,
    })
}

/// Reads an OBD object: duplicates, then `ts`, then wire types; ranges are checked later.
pub(crate) fn obd<'de, D: Deserializer<'de>>(de: D) -> Result<Result<ObdInput, Fault>, D::Error> {
    let mut f = Fields::new();
    de.deserialize_map(ObjectVisitor(Kind::Obd, &mut f))?;
    Ok(obd_input(&mut f))
}

fn obd_input(f: &mut Fields<'_>) -> Result<ObdInput, Fault> {
    f.check_duplicates()?;
    Ok(ObdInput {
        ts: f.ts()?,
        rpm: f.optional(Field::Rpm)?,
        speed_kmh: f.optional(Field::SpeedKmh)?,
        coolant_c: f.optional(Field::CoolantC)?,
        fuel_pct: f.optional(Field::FuelPct)?,
        engine_load_pct: f.optional(Field::EngineLoadPct)?,
        odometer_km: f.optional(Field::OdometerKm)?,
        dtc: f.dtc.take(),
    })
}

/// Fills the caller's [`Fields`] in place: it is a few hundred bytes, not worth moving.
struct ObjectVisitor<'a, 'de>(Kind, &'a mut Fields<'de>);

impl<'de> Visitor<'de> for ObjectVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reading object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.1;
        while let Some(key) = map.next_key_seed(KeySeed(self.0))? {
            let field = match key {
                Key::Known(field) => field,
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    f.unknown.insert(name);
                    continue;
                }
            };
            if std::mem::replace(&mut f.seen[field as usize], true) {
                map.next_value::<IgnoredAny>()?;
                f.duplicate.get_or_insert(Cow::Borrowed(field.name()));
                continue;
            }
            match field {
                Field::Ts => f.ts = Some(map.next_value_seed(Any(TsValue))?),
                Field::Dtc => f.dtc = map.next_value_seed(Any(DtcList))?,
                _ => f.nums[field as usize] = map.next_value_seed(Any(NumValue))?,
            }
        }
        Ok(())
    }
}

enum Key<'de> {
    Known(Field),
    Unknown(Cow<'de, str>),
}

struct KeySeed(Kind);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Key<'de>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Key<'de>, E> {
        Ok(match Field::lookup(self.0, name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(Cow::Borrowed(name)),
        })
    }

    /// Keys with escapes are unescaped into a scratch buffer, so they cannot be borrowed.
    fn visit_str<E>(self, name: &str) -> Result<Key<'de>, E> {
        Ok(match Field::lookup(self.0, name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(Cow::Owned(name.to_owned())),
        })
    }
}
