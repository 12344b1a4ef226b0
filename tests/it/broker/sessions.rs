//! `fleetd broker sessions`, run as the binary against a secured broker: a daemon whose
//! client ids changed left two persistent sessions of its share group collecting readings;
//! the command lists them as orphans, drains them into PostgreSQL and drops them.

use std::process::Output;
use std::time::Duration;

use fleetd::config::{Config, Secret, SubscriptionMode};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::common::api::DAEMON_ACCOUNT;
use crate::common::{
    config, config_env, count, free_port, now_ms, wait_count, Broker, InProcess, TestDb,
    BROKER_ADMIN,
};

/// Readings the orphaned sessions collect.
const READINGS: usize = 2_500;

/// A secured broker with the daemon's account set up, and a daemon config in shared mode.
async fn secured(db: &TestDb, broker: &Broker) -> (Config, fleetd::broker::Admin) {
    let mut c = config(db, broker);
    c.mqtt.username = DAEMON_ACCOUNT.0.into();
    c.mqtt.password = Secret::new(DAEMON_ACCOUNT.1);
    c.broker.admin_username = BROKER_ADMIN.0.into();
    c.broker.admin_password = Secret::new(BROKER_ADMIN.1);
    c.mqtt.subscription = SubscriptionMode::Shared;
    c.mqtt.connections = 2;
    c.mqtt.share_group = "g".into();
    c.validate().unwrap();
    let admin = fleetd::broker::Admin::start(&c).unwrap().unwrap();
    fleetd::broker::setup(&admin, &c).await.unwrap();
    (c, admin)
}

/// Runs `fleetd broker sessions ARGS` with `c` (plus `env` over it).
async fn sessions(c: &Config, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fleetd"));
    cmd.args(["broker", "sessions"])
        .args(args)
        .envs(config_env(c))
        .env("FLEETD_MQTT_USERNAME", &c.mqtt.username)
        .env("FLEETD_MQTT_PASSWORD", c.mqtt.password.expose())
        .env("FLEETD_MQTT_SHARE_GROUP", &c.mqtt.share_group)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn line<'a>(stdout: &'a str, client_id: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(client_id))
        .unwrap_or_else(|| panic!("no line for {client_id} in:\n{stdout}"))
}

/// A tracker of `vehicle` publishing at QoS 1; returns once the broker acknowledged `n`
/// readings (they are then in its care), with timestamps from `t0` a second apart.
async fn publish(broker: &Broker, admin: &fleetd::broker::Admin, vehicle: &str, t0: i64, n: usize) {
    let account = fleetd::broker::issue_tracker(admin, "fleet", vehicle)
        .await
        .unwrap();
    let mut o = MqttOptions::new(&account.username, "127.0.0.1", broker.port);
    o.set_credentials(&account.username, &account.password);
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    // Polled alongside the publishing: the request channel holds only 100.
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < n {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.unwrap() {
                acked += 1;
            }
        }
    });
    for i in 0..n {
        let body = format!(r#"{{"ts":{},"lat":1.0,"lon":2.0}}"#, t0 + i as i64 * 1000);
        client
            .publish(
                format!("fleet/{vehicle}/gps"),
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), acks)
        .await
        .expect("the broker did not acknowledge every reading")
        .unwrap();
}

/// A persistent session of the daemon's account subscribed plainly to the telemetry, then
/// disconnected.
async fn legacy_session(broker: &Broker, client_id: &str) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", broker.port);
    o.set_clean_session(false)
        .set_credentials(DAEMON_ACCOUNT.0, DAEMON_ACCOUNT.1);
    let (client, mut eventloop) = AsyncClient::new(o, 10);
    client.subscribe("fleet/#", QoS::AtLeastOnce).await.unwrap();
    while !matches!(
        eventloop.poll().await.unwrap(),
        Event::Incoming(Packet::SubAck(_))
    ) {}
    client.disconnect().await.unwrap();
    while eventloop.poll().await.is_ok() {}
}

/// Whether the broker still holds a session for `client_id` (asked as the daemon's account,
/// acknowledging nothing, and without leaving an empty session behind).
async fn holds_session(broker: &Broker, client_id: &str) -> bool {
    let connect = |clean: bool| {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", broker.port);
        o.set_clean_session(clean)
            .set_manual_acks(true)
            .set_credentials(DAEMON_ACCOUNT.0, DAEMON_ACCOUNT.1);
        AsyncClient::new(o, 10)
    };
    let (_client, mut eventloop) = connect(false);
    let present = match eventloop.poll().await.unwrap() {
        Event::Incoming(Packet::ConnAck(ack)) => ack.session_present,
        other => panic!("expected a CONNACK, got {other:?}"),
    };
    drop(eventloop);
    if !present {
        let (_client, mut eventloop) = connect(true);
        eventloop.poll().await.unwrap();
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_sessions_are_drained_into_the_database_then_dropped() {
    let db = TestDb::create().await;
    let broker = Broker::start_secured();
    let (old, admin) = secured(&db, &broker).await;
    let sql = db.client().await;

    // The old daemon: two members of share group g, subscribed (one reading went through).
    let t0 = (now_ms() - 3_600_000) / 1000 * 1000;
    let daemon = InProcess::start(old.clone()).await;
    publish(&broker, &admin, "veh-1", t0, 1).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;
    daemon.shutdown().await;
    // Its client ids change (a new mqtt.client_id, one connection): the old sessions stay
    // subscribed and collect every reading, since no other member of the group is connected.
    let mut new = old.clone();
    new.mqtt.client_id = format!("{}n", old.mqtt.client_id);
    new.mqtt.connections = 1;
    // And a plain session no daemon recorded (from an older fleetd, say): it gets a copy of
    // every reading.
    legacy_session(&broker, "legacy-0").await;
    // More than the broker's in-flight window (1,000 in test brokers) per session, so the
    // drain needs acknowledgements flowing while it reads.
    publish(&broker, &admin, "veh-1", t0 + 1000, READINGS).await;
    let (old_0, old_1) = (
        format!("{}-0", old.mqtt.client_id),
        format!("{}-1", old.mqtt.client_id),
    );

    let out = sessions(&new, &[], &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in [&old_0, &old_1] {
        let l = line(&stdout, id);
        assert!(l.contains("orphan") && l.contains("present"), "{l}");
    }
    let own = line(&stdout, &format!("{}-0", new.mqtt.client_id));
    assert!(
        own.contains("this config") && own.contains("not probed"),
        "{own}"
    );
    // Listing changed nothing.
    assert_eq!(count(&sql, "SELECT count(*) FROM gps_readings").await, 1);
    assert!(holds_session(&broker, &old_0).await);

    let out = sessions(&new, &["--drop-orphans", "--client-id", "legacy-0"], &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drained: u64 = [&old_0, &old_1]
        .iter()
        .map(|id| {
            let l = line(&stdout, id);
            assert!(l.ends_with("messages, dropped"), "{l}");
            let n = l
                .split("drained ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            n.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(drained, READINGS as u64, "{stdout}");
    assert!(
        line(&stdout, "legacy-0").ends_with(&format!("drained {READINGS} messages, dropped")),
        "{stdout}"
    );
    // Every reading the old sessions held is stored, and they hold nothing any more.
    assert_eq!(
        count(&sql, "SELECT count(*) FROM gps_readings").await,
        READINGS as i64 + 1
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM telemetry_rejects").await,
        0
    );
    assert!(!holds_session(&broker, &old_0).await);
    assert!(!holds_session(&broker, &old_1).await);
    assert!(!holds_session(&broker, "legacy-0").await);
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM broker_sessions WHERE dropped_at IS NOT NULL"
        )
        .await,
        2
    );
    // And they stopped collecting: a reading published now is queued for nobody but the
    // configured daemon's session.
    let out = sessions(&new, &["--client-id", "legacy-0"], &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for id in [&old_0, &old_1, &"legacy-0".to_string()] {
        assert!(line(&stdout, id).contains(" none "), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_an_unusable_broker_give_clear_errors() {
    let db = TestDb::create().await;
    let broker = Broker::start_secured();
    let (c, _admin) = secured(&db, &broker).await;
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let out = sessions(&c, &["--drop-orphan"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected argument '--drop-orphan'"),
        "{}",
        stderr(&out)
    );

    let out = sessions(&c, &["--client-id", "tracker-veh-1"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--client-id \\\"tracker-veh-1\\\""),
        "{}",
        stderr(&out)
    );

    let out = sessions(&c, &[], &[("FLEETD_MQTT_PASSWORD", "wrong-password")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the broker refused the account"),
        "{}",
        stderr(&out)
    );

    let nowhere = format!("mqtt://127.0.0.1:{}", free_port());
    let out = sessions(&c, &[], &[("FLEETD_MQTT_URL", &nowhere)]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach the broker"),
        "{}",
        stderr(&out)
    );
    // Nothing was printed as a report when it could not be made.
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemons_sessions_are_never_touched() {
    let db = TestDb::create().await;
    let broker = Broker::start_secured();
    let (running, admin) = secured(&db, &broker).await;
    let sql = db.client().await;
    let t0 = (now_ms() - 3_600_000) / 1000 * 1000;
    let daemon = InProcess::start(running.clone()).await;
    publish(&broker, &admin, "veh-1", t0, 1).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 1).await;

    // Another configuration (another daemon's) asks to drop orphans.
    let mut other = running.clone();
    other.mqtt.client_id = format!("{}o", running.mqtt.client_id);
    let out = sessions(&other, &["--drop-orphans"], &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in 0..2 {
        let l = line(&stdout, &format!("{}-{n}", running.mqtt.client_id));
        assert!(
            l.contains("running daemon") && l.contains("not probed"),
            "{l}"
        );
        assert!(l.ends_with(" -"), "{l}");
    }
    // The running daemon kept its sessions: it still receives and stores.
    publish(&broker, &admin, "veh-1", t0 + 1000, 5).await;
    wait_count(&sql, "SELECT count(*) FROM gps_readings", 6).await;
    daemon.shutdown().await;
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM broker_sessions WHERE live_until > now()"
        )
        .await,
        0,
        "a daemon that stopped cleanly owns nothing any more"
    );
}
