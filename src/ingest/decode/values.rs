//! Readers for single field values. Each accepts every JSON type and reports a wrong one
//! as data, never as a deserialization error, so one bad field rejects one reading only.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::rfc3339;
use super::validate::{self, Fault, MAX_DTC_CODES};
use crate::ingest::reading::{Dtc, RejectReason};

/// A numeric field as found in the object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    Absent,
    Null,
    Value(f64),
    /// The JSON type found instead of a number.
    Wrong(&'static str),
}

/// How one kind of field reads each JSON type; [`Any`] turns it into a serde visitor.
/// Every method has a fallback so that no JSON type is a deserialization error.
pub(super) trait Classify<'de>: Sized {
    type Out;
    /// `found` is the JSON type's name, for the detail.
    fn other(self, found: &'static str) -> Self::Out;
    fn null(self) -> Self::Out {
        self.other("null")
    }
    fn int(self, _v: i64) -> Self::Out {
        self.other("integer")
    }
    fn uint(self, _v: u64) -> Self::Out {
        self.other("integer")
    }
    fn float(self, _v: f64) -> Self::Out {
        self.other("number")
    }
    fn string(self, _v: &str) -> Self::Out {
        self.other("string")
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.other("array"))
    }
}

pub(super) struct Any<C>(pub(super) C);

impl<'de, C: Classify<'de>> DeserializeSeed<'de> for Any<C> {
    type Value = C::Out;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<C::Out, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, C: Classify<'de>> Visitor<'de> for Any<C> {
    type Value = C::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<C::Out, E> {
        Ok(self.0.null())
    }
    fn visit_none<E>(self) -> Result<C::Out, E> {
        Ok(self.0.null())
    }
    fn visit_bool<E>(self, _v: bool) -> Result<C::Out, E> {
        Ok(self.0.other("boolean"))
    }
    fn visit_i64<E>(self, v: i64) -> Result<C::Out, E> {
        Ok(self.0.int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<C::Out, E> {
        Ok(self.0.uint(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<C::Out, E> {
        Ok(self.0.float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<C::Out, E> {
        Ok(self.0.string(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<C::Out, A::Error> {
        self.0.seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<C::Out, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.0.other("object"))
    }
}

pub(super) struct NumValue;

impl Classify<'_> for NumValue {
    type Out = Num;
    fn other(self, found: &'static str) -> Num {
        Num::Wrong(found)
    }
    fn null(self) -> Num {
        Num::Null
    }
    fn int(self, v: i64) -> Num {
        Num::Value(v as f64)
    }
    fn uint(self, v: u64) -> Num {
        Num::Value(v as f64)
    }
    fn float(self, v: f64) -> Num {
        Num::Value(v)
    }
}

/// `ts`: an RFC 3339 string or integer epoch milliseconds; anything else is `BadTimestamp`.
pub(super) struct TsValue;

impl Classify<'_> for TsValue {
    type Out = Result<i64, Fault>;
    fn other(self, found: &'static str) -> Self::Out {
        Err(Fault::new(
            RejectReason::BadTimestamp,
            format!("ts must be an RFC 3339 string or integer epoch milliseconds, found {found}"),
        ))
    }
    fn int(self, v: i64) -> Self::Out {
        validate::ts_from_millis(v)
    }
    fn uint(self, v: u64) -> Self::Out {
        // Every u64 that is not an i64 is beyond chrono's range anyway.
        validate::ts_from_millis(i64::try_from(v).unwrap_or(i64::MAX))
    }
    fn float(self, v: f64) -> Self::Out {
        Err(Fault::new(
            RejectReason::BadTimestamp,
            format!("ts {v} is not an integer of epoch milliseconds"),
        ))
    }
    fn string(self, v: &str) -> Self::Out {
        rfc3339::parse(v).ok_or_else(|| {
            Fault::new(
                RejectReason::BadTimestamp,
                format!("ts {} is not an RFC 3339 date-time", validate::echo(v)),
            )
        })
    }
}

/// `dtc`: `null` (absent) or an array of codes.
pub(super) struct DtcList;

impl<'de> Classify<'de> for DtcList {
    type Out = Option<Result<Vec<Dtc>, Fault>>;
    fn other(self, found: &'static str) -> Self::Out {
        Some(Err(Fault::new(
            RejectReason::InvalidField,
            format!("dtc must be an array of strings, found {found}"),
        )))
    }
    fn null(self) -> Self::Out {
        None
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut codes = Vec::new();
        let mut fault = None;
        let mut count = 0;
        // Read to the end even after a fault: the rest of the object still has to be parsed.
        while let Some(code) = seq.next_element_seed(Any(DtcCode(count)))? {
            match code {
                Ok(code) if fault.is_none() && count < MAX_DTC_CODES => codes.push(code),
                Err(f) if fault.is_none() => fault = Some(f),
                _ => {}
            }
            count += 1;
        }
        Ok(Some(match fault {
            Some(fault) => Err(fault),
            None if count > MAX_DTC_CODES => Err(validate::too_many_dtcs(count)),
            None => Ok(codes),
        }))
    }
}

/// One element of `dtc`, at the index it carries.
struct DtcCode(usize);

impl Classify<'_> for DtcCode {
    type Out = Result<Dtc, Fault>;
    fn other(self, found: &'static str) -> Self::Out {
        Err(Fault::new(
            RejectReason::InvalidField,
            format!("dtc[{}] must be a string, found {found}", self.0),
        ))
    }
    fn string(self, v: &str) -> Self::Out {
        validate::dtc_code(self.0, v)
    }
}
