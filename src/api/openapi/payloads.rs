//! The JSON Schema (2020-12) of each event type's payload (docs/events.md, "Schemas"), for
//! [`super::events`]; a new [`Kind`] does not compile until it has one here. A payload that
//! embeds an API representation (`{"rental": …}`) references that representation's own
//! component schema, narrowed to what the change leaves (a completed rental's `status` is
//! `completed`); the other fields are described exactly. Every payload object is closed: a
//! field the schema does not name is not sent.
//!
//! Component names: `{Aggregate}{WhatHappened}Payload`, the type's name in CamelCase
//! (`rental.no_show` → `RentalNoShowPayload`).

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::alerts::Alert;
use crate::api::fleet::assignments::Assignment;
use crate::api::fleet::drivers::DutyStatus;
use crate::api::invoices::model::Invoice;
use crate::api::maintenance::jobs::Job as MaintenanceJob;
use crate::api::rentals::booking::Rental;
use crate::api::rentals::ledger::{Payment, Refund};
use crate::api::trips::model::{Stop, Trip};
use crate::api::vehicles::model::{Vehicle, VehicleStatus};
use crate::dispatch::jobs::{EventReason, JobState};
use crate::events::Kind;

/// `kind`'s name in CamelCase: `vehicle.status_changed` → `VehicleStatusChanged`.
pub fn camel(kind: Kind) -> String {
    kind.as_str()
        .split(['.', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The component name of `kind`'s payload schema.
pub fn payload_name(kind: Kind) -> String {
    format!("{}Payload", camel(kind))
}

/// The JSON Schema of `kind`'s payload (version [`crate::events::VERSION`]); the representations it
/// embeds are `$ref`s into `generator`'s definitions, which this adds as needed.
pub fn payload(kind: Kind, g: &mut SchemaGenerator) -> Value {
    use Kind::*;
    match kind {
        VehicleRegistered => object(
            "The vehicle as `GET /v1/vehicles/{id}` answers it.",
            vec![("vehicle", sub::<Vehicle>(g))],
        ),
        VehicleStatusChanged => vehicle_status(g, None),
        VehicleDecommissioned => vehicle_status(g, Some("decommissioned")),
        DriverDutyChanged => object(
            "The driver's duty status, before and after.",
            vec![
                ("driver_id", sub::<Uuid>(g)),
                ("from", sub::<DutyStatus>(g)),
                ("to", sub::<DutyStatus>(g)),
            ],
        ),
        AssignmentCreated => assignment(g, "scheduled"),
        AssignmentCompleted => assignment(g, "completed"),
        AssignmentCancelled => assignment(g, "cancelled"),
        RentalReserved => rental(g, "reserved"),
        RentalActivated => rental(g, "active"),
        RentalCompleted => rental(g, "completed"),
        RentalCancelled => rental(g, "cancelled"),
        RentalNoShow => rental(g, "no_show"),
        RentalPaymentRecorded => object(
            "The payment as `POST /v1/rentals/{id}/payments` answers it, and its rental.",
            vec![
                ("rental_id", sub::<Uuid>(g)),
                ("payment", sub::<Payment>(g)),
            ],
        ),
        PaymentCaptured => payment(g, "captured"),
        PaymentFailed => payment(g, "failed"),
        RefundIssued => object(
            "The refund, and its payment right after it (`refunded` once refunds reach the amount).",
            vec![
                ("rental_id", sub::<Uuid>(g)),
                ("refund", sub::<Refund>(g)),
                ("payment", sub::<Payment>(g)),
            ],
        ),
        InvoiceIssued => object(
            "The invoice as `GET /v1/invoices/{id}` answers it, right after it was issued (`paid` at once when the rental's balance was already zero or less).",
            vec![("invoice", sub::<Invoice>(g))],
        ),
        InvoiceVoided => object(
            "The invoice as `GET /v1/invoices/{id}` answers it, right after it was voided.",
            vec![("invoice", narrowed(sub::<Invoice>(g), "status", "void"))],
        ),
        MaintenanceScheduled => maintenance(g, "scheduled"),
        MaintenanceStarted => maintenance(g, "in_progress"),
        MaintenanceCompleted => maintenance(g, "completed"),
        MaintenanceCancelled => maintenance(g, "cancelled"),
        JobCreated => job(g, JobState::Pending, EventReason::Created),
        JobOffered => job(g, JobState::Offered, EventReason::Offered),
        JobAccepted => job(g, JobState::Assigned, EventReason::Accepted),
        JobDeclined => job(g, JobState::Pending, EventReason::Declined),
        JobExpired => job(g, JobState::Pending, EventReason::OfferExpired),
        JobPickedUp => job(g, JobState::PickedUp, EventReason::PickedUp),
        JobCompleted => job(g, JobState::Completed, EventReason::Completed),
        JobCancelled => job(g, JobState::Cancelled, EventReason::Cancelled),
        JobUnassigned => job(g, JobState::Unassigned, EventReason::GaveUp),
        TripCompleted => {
            // `GET /v1/trips/{id}`'s trip without its path.
            let mut trip = sub::<Trip>(g);
            trip["properties"] = json!({"path": false});
            segment(g, "trip", trip)
        }
        TripDiscarded => discarded(g, "trip"),
        StopCompleted => {
            let stop = sub::<Stop>(g);
            segment(g, "stop", stop)
        }
        StopDiscarded => discarded(g, "stop"),
        GeofenceEntered => geofence(g, "entered the fence (`entered_at` is `ts`)"),
        GeofenceExited => geofence(g, "left the fence (`entered_at`: when the visit began)"),
        GeofenceDwell => geofence(g, "had been inside for the fence's `dwell_s`"),
        // Alerts.
        AlertOpened => alert(g, "open"),
        AlertAcknowledged => alert(g, "acknowledged"),
        AlertResolved => alert(g, "resolved"),
    }
}

/// `T`'s schema in `g`: a `$ref` to its component, or inline for the primitives.
fn sub<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

/// `reference` (an object's `$ref`) with its `field` fixed to `value`.
fn narrowed(mut reference: Value, field: &str, value: &str) -> Value {
    reference["properties"] = json!({ field: { "const": value } });
    reference
}

/// A closed object with every one of `fields` required.
fn object(description: &str, fields: Vec<(&str, Value)>) -> Value {
    let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let properties: Map<String, Value> = fields
        .into_iter()
        .map(|(name, schema)| (name.to_string(), schema))
        .collect();
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
        "additionalProperties": false
    })
}

/// `vehicle.status_changed` and `vehicle.decommissioned` (`to` fixed).
fn vehicle_status(g: &mut SchemaGenerator, to: Option<&str>) -> Value {
    let mut target = sub::<VehicleStatus>(g);
    if let Some(to) = to {
        target["const"] = json!(to);
    }
    object(
        "The vehicle's status, before and after.",
        vec![
            ("vehicle_id", sub::<String>(g)),
            ("from", sub::<VehicleStatus>(g)),
            ("to", target),
        ],
    )
}

fn assignment(g: &mut SchemaGenerator, status: &str) -> Value {
    let a = narrowed(sub::<Assignment>(g), "status", status);
    object(
        "The assignment as `GET /v1/assignments/{id}` answers it, right after the change.",
        vec![("assignment", a)],
    )
}

fn rental(g: &mut SchemaGenerator, status: &str) -> Value {
    let r = narrowed(sub::<Rental>(g), "status", status);
    object(
        "The rental as `GET /v1/rentals/{id}` answers it, right after the change (charges, payments and balance included).",
        vec![("rental", r)],
    )
}

/// `payment.*`: the payment right after the transition, in `status`.
fn payment(g: &mut SchemaGenerator, status: &str) -> Value {
    let p = narrowed(sub::<Payment>(g), "status", status);
    object(
        "The payment as `GET /v1/rentals/{id}` lists it, right after the change, and its rental.",
        vec![("rental_id", sub::<Uuid>(g)), ("payment", p)],
    )
}

fn maintenance(g: &mut SchemaGenerator, status: &str) -> Value {
    let j = narrowed(sub::<MaintenanceJob>(g), "status", status);
    object(
        "The maintenance job as `GET /v1/maintenance/{id}` answers it, right after the change.",
        vec![("job", j)],
    )
}

/// `alert.*`: the alert right after the transition, in `status`.
fn alert(g: &mut SchemaGenerator, status: &str) -> Value {
    let a = narrowed(sub::<Alert>(g), "status", status);
    object(
        "The alert as `GET /v1/alerts/{id}` answers it, right after the change.",
        vec![("alert", a)],
    )
}

/// `job.*`: the dispatch job right after the transition, in `state`, moved for `reason`.
fn job(g: &mut SchemaGenerator, state: JobState, reason: EventReason) -> Value {
    let mut s = sub::<JobState>(g);
    s["const"] = json!(state.as_str());
    let mut r = sub::<EventReason>(g);
    r["const"] = json!(reason.as_str());
    let mut driver = sub::<Option<Uuid>>(g);
    driver["description"] = json!("The driver concerned (offered, accepting, declining, ...).");
    let mut due = sub::<Option<DateTime<Utc>>>(g);
    due["description"] = json!("The offer's expiry, or the next matching attempt.");
    let mut attempts = sub::<i32>(g);
    attempts["minimum"] = json!(0);
    object(
        "The dispatch job right after the transition (its history is at `GET /v1/dispatch/jobs/{id}`).",
        vec![
            ("job_id", sub::<Uuid>(g)),
            ("state", s),
            ("reason", r),
            ("driver_id", driver),
            ("vehicle_id", sub::<Option<String>>(g)),
            ("attempts", attempts),
            ("due_at", due),
            ("created_by", sub::<Uuid>(g)),
        ],
    )
}

/// `trip.completed` and `stop.completed`: the whole segment as it now stands.
fn segment(g: &mut SchemaGenerator, what: &str, representation: Value) -> Value {
    let mut revised = sub::<bool>(g);
    revised["description"] = json!(format!(
        "false when the {what} is first written; true for every later change to it"
    ));
    object(
        &format!("The {what} as the API shows it (times in microseconds), written or changed."),
        vec![(what, representation), ("revised", revised)],
    )
}

/// `trip.discarded` and `stop.discarded`: which segment a re-decision dropped.
fn discarded(g: &mut SchemaGenerator, what: &str) -> Value {
    object(
        &format!("The {what} a re-decision dropped."),
        vec![
            (&format!("{what}_id"), sub::<i64>(g)),
            ("vehicle_id", sub::<String>(g)),
            ("start_ts", sub::<DateTime<Utc>>(g)),
        ],
    )
}

/// `geofence.*`: the fence, the vehicle and the reading at which it `what`.
fn geofence(g: &mut SchemaGenerator, what: &str) -> Value {
    let degrees = |min: f64, max: f64| json!({"type": "number", "minimum": min, "maximum": max});
    object(
        &format!("A vehicle's reading (at `ts`, `lat`, `lon`, `speed_kmh`) at which it {what}."),
        vec![
            ("geofence_id", sub::<Uuid>(g)),
            ("geofence_name", sub::<String>(g)),
            ("vehicle_id", sub::<String>(g)),
            ("ts", sub::<DateTime<Utc>>(g)),
            ("lat", degrees(-90.0, 90.0)),
            ("lon", degrees(-180.0, 180.0)),
            (
                "speed_kmh",
                json!({"type": ["number", "null"], "minimum": 0}),
            ),
            ("entered_at", sub::<DateTime<Utc>>(g)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_the_types_in_camel_case_and_unique() {
        assert_eq!(payload_name(Kind::RentalNoShow), "RentalNoShowPayload");
        assert_eq!(camel(Kind::VehicleStatusChanged), "VehicleStatusChanged");
        assert_eq!(camel(Kind::JobPickedUp), "JobPickedUp");
        let names: HashSet<String> = Kind::ALL.into_iter().map(payload_name).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    fn every_payload_is_a_closed_object_requiring_all_its_fields() {
        let mut g = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        for kind in Kind::ALL {
            let s = payload(kind, &mut g);
            assert_eq!(s["type"], "object", "{}", kind.as_str());
            assert_eq!(s["additionalProperties"], false, "{}", kind.as_str());
            let fields: HashSet<&str> = s["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let required: HashSet<&str> = s["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(fields, required, "{}", kind.as_str());
            assert!(!fields.is_empty(), "{}", kind.as_str());
        }
    }
}
