//! Two daemons sharing a subscription and a manual clock, for exact tests of what the trip
//! segmenter's pass derives (geofence events, alerts): standing at `t0` while a round of
//! readings stamped after it is published, the pass takes none; once the clock moves past
//! them, all of them, in each vehicle's time order, whatever order they arrived in. (So the
//! clock must not move past the first reading of the next round.)

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleetd::config::SubscriptionMode;

use super::api::{Client, ADMIN_PASSWORD, SECRET};
use super::{config, count, Broker, InProcess, TestDb};

/// The pair, their database and broker, the clock's hand and the admin.
pub struct Pair {
    pub db: TestDb,
    pub broker: Broker,
    pub a: InProcess,
    pub b: InProcess,
    pub hand: fleetd::clock::ClockHand,
    /// Where the clock stands at first: ten minutes ago, in whole seconds (so that readings
    /// published in milliseconds are stored as generated).
    pub t0: DateTime<Utc>,
    pub admin: Client,
}

impl Pair {
    pub async fn start() -> Pair {
        let db = TestDb::create().await;
        let broker = Broker::start();
        let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
        let (clock, hand) = fleetd::clock::Clock::manual(t0);
        let mut cfg = config(&db, &broker);
        cfg.mqtt.subscription = SubscriptionMode::Shared;
        cfg.trips.settle_s = 0;
        cfg.trips.interval_ms = 100;
        cfg.trips.batch_vehicles = 3;
        cfg.jwt.secret = fleetd::config::Secret::new(SECRET);
        cfg.admin.password = fleetd::config::Secret::new(ADMIN_PASSWORD);
        let a = InProcess::start_on(cfg.clone(), clock.clone()).await;
        let mut cfg_b = cfg.clone();
        cfg_b.mqtt.client_id = format!("{}b", cfg.mqtt.client_id);
        let b = InProcess::start_on(cfg_b, clock).await;
        let admin = Client::anonymous(a.addr)
            .login("admin", ADMIN_PASSWORD)
            .await;
        Pair {
            db,
            broker,
            a,
            b,
            hand,
            t0,
            admin,
        }
    }

    /// Moves the clock on and waits until the pass has taken every reading due and the
    /// sequencer has numbered every event.
    pub async fn run(&self, by: chrono::Duration) {
        self.hand.advance(by);
        settled(&self.db.client().await).await;
    }

    pub async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

/// Waits until the pass has taken every reading due (no mark left to fold, no vehicle with
/// readings left) and the sequencer has numbered every event.
pub async fn settled(db: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let q = "SELECT (SELECT count(*) FROM segment_marks)
                  + (SELECT count(*) FROM segment_state
                      WHERE dirty_from IS NOT NULL OR obd_dirty_from IS NOT NULL)
                  + (SELECT count(*) FROM event_outbox)";
    while count(db, q).await > 0 {
        assert!(Instant::now() < deadline, "the pass never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small xorshift, so that a failure replays.
pub struct Rng(pub u64);

impl Rng {
    /// Uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `items` in a random order.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, (self.next() * (i + 1) as f64) as usize);
        }
    }
}
