//! Daemons sharing the readings and a manual clock, for exact tests of what the trip
//! segmenter's pass derives (geofence events, alerts): standing at `t0` while a round of
//! readings stamped after it is published, the pass takes none; once the clock moves past
//! them, all of them, in each vehicle's time order, whatever order they arrived in. (So the
//! clock must not move past the first reading of the next round.) Two daemons on one
//! Mosquitto's shared subscription ([`Pair::start`]), or three on a NATS JetStream cluster's
//! shared consumer ([`Pair::start_jetstream`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use fleetd::config::{Config, IngestSource, SubscriptionMode};

use super::api::{Client, ADMIN_PASSWORD, SECRET};
use super::nats::NatsCluster;
use super::{config, count, Broker, InProcess, Publisher, TestDb};

/// Where trackers publish.
pub enum Transport {
    Mosquitto(Broker),
    Nats(NatsCluster),
}

/// The daemons, their database and broker, the clock's hand and the admin.
pub struct Pair {
    pub db: TestDb,
    pub transport: Transport,
    pub a: InProcess,
    pub b: InProcess,
    /// Daemons beyond two.
    pub more: Vec<InProcess>,
    pub hand: fleetd::clock::ClockHand,
    /// Where the clock stands at first: ten minutes ago, in whole seconds (so that readings
    /// published in milliseconds are stored as generated).
    pub t0: DateTime<Utc>,
    pub admin: Client,
}

/// The settings every pair's daemons share.
fn tuned(mut cfg: Config) -> Config {
    cfg.trips.settle_s = 0;
    cfg.trips.interval_ms = 100;
    cfg.trips.batch_vehicles = 3;
    cfg.jwt.secret = fleetd::config::Secret::new(SECRET);
    cfg.admin.password = fleetd::config::Secret::new(ADMIN_PASSWORD);
    cfg
}

impl Pair {
    /// Two daemons on one Mosquitto's shared subscription.
    pub async fn start() -> Pair {
        let db = TestDb::create().await;
        let broker = Broker::start();
        let mut cfg = tuned(config(&db, &broker));
        cfg.mqtt.subscription = SubscriptionMode::Shared;
        Pair::start_daemons(db, Transport::Mosquitto(broker), cfg, 2).await
    }

    /// Three daemons sharing the JetStream consumer of a three-node NATS cluster (the stream
    /// on all three).
    pub async fn start_jetstream() -> Pair {
        let db = TestDb::create().await;
        let nats = NatsCluster::start(3);
        // A broker is only needed for a valid `mqtt.url`; nothing connects to it.
        let broker = Broker::start();
        let mut cfg = tuned(config(&db, &broker));
        drop(broker);
        cfg.ingest.source = IngestSource::Jetstream;
        cfg.jetstream.urls = nats.client_url();
        cfg.jetstream.replicas = 3;
        cfg.jetstream.name = format!("p{:x}", rand::random::<u32>());
        cfg.mqtt.url = format!("mqtt://127.0.0.1:{}", nats.mqtt_port(0));
        Pair::start_daemons(db, Transport::Nats(nats), cfg, 3).await
    }

    async fn start_daemons(db: TestDb, transport: Transport, cfg: Config, n: usize) -> Pair {
        let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
        let (clock, hand) = fleetd::clock::Clock::manual(t0);
        let mut daemons = Vec::new();
        for i in 0..n {
            let mut c = cfg.clone();
            c.mqtt.client_id = format!("{}{i}", cfg.mqtt.client_id);
            c.jetstream.name = format!("{}-{i}", cfg.jetstream.name);
            daemons.push(InProcess::start_on(c, clock.clone()).await);
        }
        let mut daemons = daemons.into_iter();
        let (a, b) = (daemons.next().unwrap(), daemons.next().unwrap());
        let admin = Client::anonymous(a.addr)
            .login("admin", ADMIN_PASSWORD)
            .await;
        Pair {
            db,
            transport,
            a,
            b,
            more: daemons.collect(),
            hand,
            t0,
            admin,
        }
    }

    /// A QoS 1 publisher to the trackers' MQTT listener (on NATS, the second node's).
    pub async fn publisher(&self) -> Publisher {
        match &self.transport {
            Transport::Mosquitto(broker) => Publisher::connect(broker).await,
            Transport::Nats(nats) => Publisher::connect_port(nats.mqtt_port(1)).await,
        }
    }

    /// Every daemon's HTTP address.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        [self.a.addr, self.b.addr]
            .into_iter()
            .chain(self.more.iter().map(|d| d.addr))
            .collect()
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
        for d in self.more {
            d.shutdown().await;
        }
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
