//! Every event type fleetd emits (docs/events.md documents each payload with an example).
//! A type is `{aggregate}.{what happened}`; the aggregate is the thing whose id the event
//! carries, and events of one aggregate are numbered in the order they happened.

/// An event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    VehicleRegistered,
    VehicleStatusChanged,
    VehicleDecommissioned,
    DriverDutyChanged,
    AssignmentCreated,
    AssignmentCompleted,
    AssignmentCancelled,
    RentalReserved,
    RentalActivated,
    RentalCompleted,
    RentalCancelled,
    RentalNoShow,
    RentalPaymentRecorded,
    // Payments and refunds (docs/ledger.md).
    PaymentCaptured,
    PaymentFailed,
    RefundIssued,
    // Invoices (docs/invoices.md).
    InvoiceIssued,
    InvoiceVoided,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceCompleted,
    MaintenanceCancelled,
    JobCreated,
    JobOffered,
    JobAccepted,
    JobDeclined,
    JobExpired,
    JobPickedUp,
    JobCompleted,
    JobCancelled,
    JobUnassigned,
    TripCompleted,
    TripDiscarded,
    StopCompleted,
    StopDiscarded,
    GeofenceEntered,
    GeofenceExited,
    GeofenceDwell,
    // Alerts (docs/alerts.md).
    AlertOpened,
    AlertAcknowledged,
    AlertResolved,
}

impl Kind {
    pub const ALL: [Kind; 41] = [
        Kind::VehicleRegistered,
        Kind::VehicleStatusChanged,
        Kind::VehicleDecommissioned,
        Kind::DriverDutyChanged,
        Kind::AssignmentCreated,
        Kind::AssignmentCompleted,
        Kind::AssignmentCancelled,
        Kind::RentalReserved,
        Kind::RentalActivated,
        Kind::RentalCompleted,
        Kind::RentalCancelled,
        Kind::RentalNoShow,
        Kind::RentalPaymentRecorded,
        // Payments and refunds.
        Kind::PaymentCaptured,
        Kind::PaymentFailed,
        Kind::RefundIssued,
        // Invoices.
        Kind::InvoiceIssued,
        Kind::InvoiceVoided,
        Kind::MaintenanceScheduled,
        Kind::MaintenanceStarted,
        Kind::MaintenanceCompleted,
        Kind::MaintenanceCancelled,
        Kind::JobCreated,
        Kind::JobOffered,
        Kind::JobAccepted,
        Kind::JobDeclined,
        Kind::JobExpired,
        Kind::JobPickedUp,
        Kind::JobCompleted,
        Kind::JobCancelled,
        Kind::JobUnassigned,
        Kind::TripCompleted,
        Kind::TripDiscarded,
        Kind::StopCompleted,
        Kind::StopDiscarded,
        Kind::GeofenceEntered,
        Kind::GeofenceExited,
        Kind::GeofenceDwell,
        // Alerts.
        Kind::AlertOpened,
        Kind::AlertAcknowledged,
        Kind::AlertResolved,
    ];

    /// The type's name, `{aggregate}.{what happened}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VehicleRegistered => "vehicle.registered",
            Kind::VehicleStatusChanged => "vehicle.status_changed",
            Kind::VehicleDecommissioned => "vehicle.decommissioned",
            Kind::DriverDutyChanged => "driver.duty_changed",
            Kind::AssignmentCreated => "assignment.created",
            Kind::AssignmentCompleted => "assignment.completed",
            Kind::AssignmentCancelled => "assignment.cancelled",
            Kind::RentalReserved => "rental.reserved",
            Kind::RentalActivated => "rental.activated",
            Kind::RentalCompleted => "rental.completed",
            Kind::RentalCancelled => "rental.cancelled",
            Kind::RentalNoShow => "rental.no_show",
            Kind::RentalPaymentRecorded => "rental.payment_recorded",
            // Payments and refunds.
            Kind::PaymentCaptured => "payment.captured",
            Kind::PaymentFailed => "payment.failed",
            Kind::RefundIssued => "refund.issued",
            // Invoices.
            Kind::InvoiceIssued => "invoice.issued",
            Kind::InvoiceVoided => "invoice.voided",
            Kind::MaintenanceScheduled => "maintenance.scheduled",
            Kind::MaintenanceStarted => "maintenance.started",
            Kind::MaintenanceCompleted => "maintenance.completed",
            Kind::MaintenanceCancelled => "maintenance.cancelled",
            Kind::JobCreated => "job.created",
            Kind::JobOffered => "job.offered",
            Kind::JobAccepted => "job.accepted",
            Kind::JobDeclined => "job.declined",
            Kind::JobExpired => "job.expired",
            Kind::JobPickedUp => "job.picked_up",
            Kind::JobCompleted => "job.completed",
            Kind::JobCancelled => "job.cancelled",
            Kind::JobUnassigned => "job.unassigned",
            Kind::TripCompleted => "trip.completed",
            Kind::TripDiscarded => "trip.discarded",
            Kind::StopCompleted => "stop.completed",
            Kind::StopDiscarded => "stop.discarded",
            Kind::GeofenceEntered => "geofence.entered",
            Kind::GeofenceExited => "geofence.exited",
            Kind::GeofenceDwell => "geofence.dwell",
            // Alerts.
            Kind::AlertOpened => "alert.opened",
            Kind::AlertAcknowledged => "alert.acknowledged",
            Kind::AlertResolved => "alert.resolved",
        }
    }

    /// The aggregate: what the event's `aggregate_id` names.
    pub fn aggregate(self) -> &'static str {
        self.as_str().split_once('.').map_or("", |(a, _)| a)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let names: HashSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        for k in Kind::ALL {
            assert!(well_formed(k.as_str()), "{}", k.as_str());
            assert!(k.as_str().starts_with(k.aggregate()));
        }
    }

    /// `^[a-z][a-z_]*\.[a-z][a-z_]*$`, as the outbox table checks.
    fn well_formed(s: &str) -> bool {
        let word = |w: &str| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        };
        s.split_once('.').is_some_and(|(a, b)| word(a) && word(b))
    }

    #[test]
    fn every_type_is_documented() {
        let doc = include_str!("../../docs/events.md");
        for k in Kind::ALL {
            assert!(
                doc.contains(&format!("`{}`", k.as_str())),
                "docs/events.md lacks {}",
                k.as_str()
            );
        }
    }
}
