//! The roster: which driver is at the wheel of which vehicle, and whether they can take a
//! job, kept in memory so that dispatch filters candidates without SQL.
//!
//! PostgreSQL stays the source of truth. Triggers (migration 0004) send `fleetd_roster`
//! notifications naming a changed driver (`d:{uuid}`) or vehicle (`v:{id}`); the listener
//! ([`super::listen`]) re-reads just those rows through [`Roster::refresh`], and reloads
//! everything on every (re)connect, so a missed notification heals at the next reconnect.
//! A driver is *available* when their duty status is `available`, their vehicle is
//! `active` and not deleted, and they hold no open job (offered, assigned or picked up);
//! dispatch also requires the query's time to be before the seat's `until_us` (licence
//! valid, shift not over).
//!
//! Availability is also pushed into the live index, which keeps the vehicles of available
//! drivers in a tree of their own ([`crate::live::LiveIndex::set_dispatchable`]), so that a
//! dispatch query's candidate budget is spent on them alone. The roster's check at query
//! time ([`Eligible`]) stays the authority; the tree follows it within microseconds of each
//! update (updates are serialised, so the tree ends as the roster does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::live::{Eligibility, Position, SharedLiveIndex};

/// Every driver at the wheel of a vehicle, with the vehicle's attributes and availability.
/// `$1`/`$2` restrict it to some drivers and vehicles (both NULL: everyone).
const SEATS: &str = "
    SELECT d.id, v.id, v.type, v.seats, v.load_kg,
           d.duty_status = 'available' AND v.status = 'active'
           AND NOT EXISTS (SELECT 1 FROM dispatch_jobs j
                            WHERE j.driver_id = d.id
                              AND j.state IN ('offered', 'assigned', 'picked_up')),
           LEAST((d.licence_expiry + 1)::timestamp AT TIME ZONE 'UTC',
                 (SELECT max(a.ends_at) FROM assignments a
                   WHERE a.driver_id = d.id AND a.vehicle_id = v.id AND a.status = 'scheduled'))
      FROM drivers d
      JOIN vehicles v ON v.id = d.current_vehicle_id AND v.deleted_at IS NULL
     WHERE d.deleted_at IS NULL
       AND ($1::uuid[] IS NULL OR d.id = ANY($1) OR v.id = ANY($2))";

/// A driver in a vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct Seat {
    pub driver_id: Uuid,
    /// On duty and available, vehicle active, no open job.
    pub available: bool,
    /// When the driver stops being dispatchable in this seat whatever the database says
    /// meanwhile: the end of their licence's last day (UTC) or of their last scheduled
    /// shift in this vehicle, whichever comes first (µs since the epoch). The time rules
    /// then unseat them ([`crate::api::rules::seats`]); until they have, this keeps
    /// dispatch exact.
    pub until_us: i64,
    pub vehicle_type: String,
    pub seats: i32,
    pub load_kg: i32,
}

impl Seat {
    /// Whether the vehicle belongs in the live index's dispatchable tree: what the seat says
    /// whatever the query (its end, `until_us`, is checked at query time).
    fn dispatchable(&self) -> bool {
        self.available
    }
}

/// What a job asks of the vehicle; `None` accepts anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requirements {
    pub vehicle_type: Option<String>,
    pub min_seats: Option<i32>,
    pub min_load_kg: Option<i32>,
}

impl Requirements {
    pub fn accepts(&self, seat: &Seat) -> bool {
        self.vehicle_type
            .as_deref()
            .is_none_or(|t| t == seat.vehicle_type)
            && self.min_seats.is_none_or(|s| seat.seats >= s)
            && self.min_load_kg.is_none_or(|l| seat.load_kg >= l)
    }
}

/// Every dispatch query looks its candidates up here, so the maps hash with foldhash rather
/// than SipHash (a third of the lookup's cost); its per-process random seed still keeps
/// crafted vehicle ids from colliding on purpose.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Seats {
    by_vehicle: Map<Arc<str>, Seat>,
    vehicle_of: Map<Uuid, Arc<str>>,
}

impl Seats {
    fn insert(&mut self, vehicle_id: &str, seat: Seat) {
        let vehicle: Arc<str> = vehicle_id.into();
        self.vehicle_of.insert(seat.driver_id, vehicle.clone());
        self.by_vehicle.insert(vehicle, seat);
    }

    /// Unseats a driver; returns the vehicle they left.
    fn remove_driver(&mut self, driver_id: Uuid) -> Option<Arc<str>> {
        let v = self.vehicle_of.remove(&driver_id)?;
        self.by_vehicle.remove(&v);
        Some(v)
    }

    fn remove_vehicle(&mut self, vehicle_id: &str) {
        if let Some(seat) = self.by_vehicle.remove(vehicle_id) {
            self.vehicle_of.remove(&seat.driver_id);
        }
    }

    fn dispatchable(&self, vehicle_id: &str) -> bool {
        self.by_vehicle
            .get(vehicle_id)
            .is_some_and(Seat::dispatchable)
    }

    /// What changes for the live index's dispatchable tree from `old` to `self`.
    fn changes_since(&self, old: &Seats) -> Vec<(Arc<str>, bool)> {
        let now = self
            .by_vehicle
            .iter()
            .filter(|(v, s)| s.dispatchable() && !old.dispatchable(v));
        let gone = old
            .by_vehicle
            .iter()
            .filter(|(v, s)| s.dispatchable() && !self.dispatchable(v));
        now.map(|(v, _)| (v.clone(), true))
            .chain(gone.map(|(v, _)| (v.clone(), false)))
            .collect()
    }
}

/// The shared roster.
#[derive(Debug)]
pub struct Roster {
    seats: RwLock<Seats>,
    /// The live index whose dispatchable tree follows this roster.
    live: SharedLiveIndex,
    /// Held by an update from its change to the roster until the live index has it, so that
    /// concurrent updates reach the live index in the order they changed the roster. Never
    /// held across an `.await`.
    updating: Mutex<()>,
}

/// A change named by a `fleetd_roster` notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    Driver(Uuid),
    Vehicle(String),
}

impl Change {
    /// Parses a notification payload (`d:{uuid}` or `v:{vehicle id}`).
    pub fn parse(payload: &str) -> Option<Change> {
        match payload.split_once(':')? {
            ("d", id) => id.parse().ok().map(Change::Driver),
            ("v", id) if crate::live::valid_vehicle_id(id) => Some(Change::Vehicle(id.to_string())),
            _ => None,
        }
    }
}

impl Roster {
    /// An empty roster that keeps `live`'s dispatchable tree in step with it.
    pub fn new(live: SharedLiveIndex) -> Roster {
        Roster {
            seats: RwLock::default(),
            live,
            updating: Mutex::default(),
        }
    }

    /// Replaces everything with what PostgreSQL holds now.
    pub async fn reload<C: GenericClient>(
        &self,
        client: &C,
    ) -> Result<usize, tokio_postgres::Error> {
        let rows = client
            .query(SEATS, &[&None::<Vec<Uuid>>, &None::<Vec<String>>])
            .await?;
        let mut seats = Seats::default();
        for row in &rows {
            seats.insert(row.get(1), seat(row));
        }
        let n = seats.by_vehicle.len();
        let _order = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *self.write(), seats);
        // Only what changed: a reconnect's reload moves little, and the live index takes
        // its write lock for ~1 µs per change.
        let changes = self.read().changes_since(&old);
        self.live.set_dispatchable_many(&changes);
        Ok(n)
    }

    /// Re-reads the named drivers and vehicles.
    pub async fn refresh<C: GenericClient>(
        &self,
        client: &C,
        changes: &[Change],
    ) -> Result<(), tokio_postgres::Error> {
        let mut drivers = Vec::new();
        let mut vehicles = Vec::new();
        for c in changes {
            match c {
                Change::Driver(d) => drivers.push(*d),
                Change::Vehicle(v) => vehicles.push(v.clone()),
            }
        }
        let rows = client.query(SEATS, &[&drivers, &vehicles]).await?;
        let _order = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let changes: Vec<(Arc<str>, bool)> = {
            let mut seats = self.write();
            // Every vehicle whose seat may change: the live index is told each one's outcome.
            let mut touched: Vec<Arc<str>> = Vec::new();
            for d in &drivers {
                touched.extend(seats.remove_driver(*d));
            }
            for v in &vehicles {
                seats.remove_vehicle(v);
                touched.push(v.as_str().into());
            }
            for row in &rows {
                let seat = seat(row);
                // A driver re-read through their vehicle may have a stale entry elsewhere.
                touched.extend(seats.remove_driver(seat.driver_id));
                let vehicle: &str = row.get(1);
                touched.push(vehicle.into());
                seats.insert(vehicle, seat);
            }
            touched
                .into_iter()
                .map(|v| {
                    let on = seats.dispatchable(&v);
                    (v, on)
                })
                .collect()
        };
        self.live.set_dispatchable_many(&changes);
        Ok(())
    }

    /// The seat of a vehicle, if a driver is at its wheel.
    pub fn seat(&self, vehicle_id: &str) -> Option<Seat> {
        self.read().by_vehicle.get(vehicle_id).cloned()
    }

    /// The driver at the wheel of `vehicle_id`.
    pub fn driver_of(&self, vehicle_id: &str) -> Option<Uuid> {
        self.read().by_vehicle.get(vehicle_id).map(|s| s.driver_id)
    }

    /// Drivers known (at the wheel of a vehicle), and how many of them are available.
    pub fn counts(&self) -> (usize, usize) {
        let seats = self.read();
        let available = seats.by_vehicle.values().filter(|s| s.available).count();
        (seats.by_vehicle.len(), available)
    }

    /// A read view for one query: hold it only for the (synchronous) index query.
    pub fn view(&self) -> View<'_> {
        View(self.read())
    }

    fn read(&self) -> RwLockReadGuard<'_, Seats> {
        self.seats.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Seats> {
        self.seats.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A locked view of the roster.
pub struct View<'a>(RwLockReadGuard<'a, Seats>);

impl View<'_> {
    /// The dispatch filter at `now_us`: an available driver whose licence and shift have not
    /// ended and whose vehicle meets `req`, not in `excluded`.
    pub fn eligible<'v>(
        &'v self,
        req: &'v Requirements,
        excluded: &'v [Uuid],
        now_us: i64,
    ) -> Eligible<'v> {
        Eligible {
            seats: &self.0,
            req,
            excluded,
            now_us,
        }
    }
}

/// [`Eligibility`] for the live index: tags each hit with the driver's id.
pub struct Eligible<'v> {
    seats: &'v Seats,
    req: &'v Requirements,
    excluded: &'v [Uuid],
    now_us: i64,
}

impl Eligibility for Eligible<'_> {
    type Tag = Uuid;

    fn check(&self, vehicle_id: &str, _: &Position) -> Option<Uuid> {
        let seat = self.seats.by_vehicle.get(vehicle_id)?;
        (seat.available
            && self.now_us < seat.until_us
            && self.req.accepts(seat)
            && !self.excluded.contains(&seat.driver_id))
        .then_some(seat.driver_id)
    }
}

fn seat(row: &tokio_postgres::Row) -> Seat {
    Seat {
        driver_id: row.get(0),
        vehicle_type: row.get(2),
        seats: row.get(3),
        load_kg: row.get(4),
        available: row.get(5),
        until_us: row
            .get::<_, Option<chrono::DateTime<chrono::Utc>>>(6)
            .map_or(i64::MAX, |t| t.timestamp_micros()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(t: &str, seats: i32, load: i32) -> Seat {
        Seat {
            driver_id: Uuid::new_v4(),
            available: true,
            until_us: i64::MAX,
            vehicle_type: t.into(),
            seats,
            load_kg: load,
        }
    }

    #[test]
    fn requirements_filter_type_seats_and_load() {
        let van = seat("van", 3, 1200);
        assert!(Requirements::default().accepts(&van));
        let r = |t: Option<&str>, s, l| Requirements {
            vehicle_type: t.map(str::to_string),
            min_seats: s,
            min_load_kg: l,
        };
        assert!(r(Some("van"), Some(3), Some(1200)).accepts(&van));
        assert!(!r(Some("car"), None, None).accepts(&van));
        assert!(!r(None, Some(4), None).accepts(&van));
        assert!(!r(None, None, Some(1201)).accepts(&van));
    }

    #[test]
    fn eligibility_needs_an_available_unexcluded_driver() {
        let mut seats = Seats::default();
        let a = seat("car", 4, 300);
        let mut b = seat("car", 4, 300);
        b.available = false;
        let (da, db) = (a.driver_id, b.driver_id);
        seats.insert("A", a);
        seats.insert("B", b);
        let req = Requirements::default();
        let p = Position {
            lat: 0.0,
            lon: 0.0,
            ts: 0,
            speed_kmh: None,
            heading_deg: None,
        };
        let e = Eligible {
            seats: &seats,
            req: &req,
            excluded: &[],
            now_us: 0,
        };
        assert_eq!(e.check("A", &p), Some(da));
        assert_eq!(e.check("B", &p), None);
        assert_eq!(e.check("C", &p), None);
        let excluded = [da];
        let e = Eligible {
            seats: &seats,
            req: &req,
            excluded: &excluded,
            now_us: 0,
        };
        assert_eq!(e.check("A", &p), None);
        // A driver moving to another vehicle leaves no entry behind.
        seats.remove_driver(db);
        assert!(!seats.by_vehicle.contains_key("B"));
    }

    #[test]
    fn a_seat_is_eligible_only_before_its_end() {
        let mut seats = Seats::default();
        let mut a = seat("car", 4, 300);
        a.until_us = 1_000;
        let da = a.driver_id;
        seats.insert("A", a);
        let req = Requirements::default();
        let p = Position {
            lat: 0.0,
            lon: 0.0,
            ts: 0,
            speed_kmh: None,
            heading_deg: None,
        };
        let at = |now_us| Eligible {
            seats: &seats,
            req: &req,
            excluded: &[],
            now_us,
        };
        assert_eq!(at(999).check("A", &p), Some(da));
        assert_eq!(at(1_000).check("A", &p), None, "licence or shift over");
    }

    #[test]
    fn the_live_index_is_told_what_changed_for_dispatch() {
        let mut old = Seats::default();
        let mut busy = seat("car", 4, 300);
        busy.available = false;
        old.insert("stays", seat("car", 4, 300));
        old.insert("leaves", seat("car", 4, 300));
        old.insert("becomes-busy", seat("car", 4, 300));
        old.insert("becomes-free", busy.clone());
        let mut new = Seats::default();
        new.insert("stays", seat("car", 4, 300));
        new.insert("becomes-busy", busy.clone());
        new.insert("becomes-free", seat("car", 4, 300));
        new.insert("arrives", seat("van", 3, 900));
        let mut changes: Vec<(String, bool)> = new
            .changes_since(&old)
            .into_iter()
            .map(|(v, on)| (v.to_string(), on))
            .collect();
        changes.sort();
        let want = [
            ("arrives", true),
            ("becomes-busy", false),
            ("becomes-free", true),
            ("leaves", false),
        ]
        .map(|(v, on)| (v.to_string(), on));
        assert_eq!(changes, want);
    }

    #[test]
    fn notification_payloads_parse_strictly() {
        let id = Uuid::new_v4();
        assert_eq!(Change::parse(&format!("d:{id}")), Some(Change::Driver(id)));
        assert_eq!(Change::parse("v:V-1"), Some(Change::Vehicle("V-1".into())));
        for bad in ["", "d:", "d:nope", "v:", "v:a b", "x:1", "v"] {
            assert_eq!(Change::parse(bad), None, "{bad}");
        }
    }
}
