//! Where a rental starts and ends: its origin and destination locations. Both are optional on
//! a quote and a reservation; the destination defaults to the origin, and a destination
//! without an origin is refused (a one-way fee needs to know where the trip starts). A rental
//! that names neither has no locations (as every rental reserved before locations existed)
//! and is never one-way.

use uuid::Uuid;

use crate::api::error::ApiError;

/// Every given location, locked against deletion until the rental naming it commits (the
/// foreign keys would refuse a deleted one, but with a constraint's name for a message).
const EXISTING: &str = "SELECT id FROM locations WHERE id = ANY($1) FOR KEY SHARE";

/// A rental's origin and destination, checked: both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ends {
    pub origin: Option<Uuid>,
    pub destination: Option<Uuid>,
}

impl Ends {
    /// The request's `origin_location_id` and `destination_location_id`, the destination
    /// defaulting to the origin; 422 for a destination without an origin.
    pub fn from_request(origin: Option<Uuid>, destination: Option<Uuid>) -> Result<Ends, ApiError> {
        match (origin, destination) {
            (None, Some(_)) => Err(ApiError::invalid(
                "origin_location_id",
                "required with destination_location_id",
            )),
            (origin, destination) => Ok(Ends {
                origin,
                destination: destination.or(origin),
            }),
        }
    }

    /// Whether the rental ends at another location than it starts: the plan's one-way fee
    /// applies.
    pub fn one_way(&self) -> bool {
        self.origin != self.destination
    }

    /// 422 naming the field of a location that does not exist; the ones that do are locked
    /// (`FOR KEY SHARE`) for the rest of `client`'s transaction.
    pub async fn check<C: tokio_postgres::GenericClient>(
        &self,
        client: &C,
    ) -> Result<(), ApiError> {
        let given: Vec<Uuid> = self.origin.into_iter().chain(self.destination).collect();
        if given.is_empty() {
            return Ok(());
        }
        let found: Vec<Uuid> = client
            .query(EXISTING, &[&given])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (field, id) in [
            ("origin_location_id", self.origin),
            ("destination_location_id", self.destination),
        ] {
            if id.is_some_and(|id| !found.contains(&id)) {
                return Err(ApiError::invalid(field, "no such location"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_defaults_to_the_origin() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let none = Ends::from_request(None, None).unwrap();
        assert_eq!(none, Ends::default());
        assert!(!none.one_way());
        let round = Ends::from_request(Some(a), None).unwrap();
        assert_eq!(round.destination, Some(a));
        assert!(!round.one_way());
        assert!(!Ends::from_request(Some(a), Some(a)).unwrap().one_way());
        assert!(Ends::from_request(Some(a), Some(b)).unwrap().one_way());
        let e = Ends::from_request(None, Some(b)).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(
            e.message.starts_with("origin_location_id:"),
            "{}",
            e.message
        );
    }
}
