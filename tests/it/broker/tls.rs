//! TLS everywhere: a tracker publishes over `mqtts://` to a broker that speaks only TLS, the
//! daemon reads it over TLS, writes it to PostgreSQL over TLS (`sslmode=verify-full`) and to
//! Redis over TLS (`rediss://`); and each link refuses a peer it cannot verify.

use std::time::{Duration, Instant};

use fleetd::tls::TlsFiles;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use crate::common::api::{vehicle, Api};
use crate::common::tls::{database_ca, Certs, TlsRedis};
use crate::common::{count, now_ms, wait_count, Broker};

/// `url` with `sslmode=verify-full` against the CA services.sh gave PostgreSQL.
async fn verified(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}sslmode=verify-full&sslrootcert={}",
        database_ca().await
    )
}

/// Connects over TLS trusting `ca`, presenting `client` (cert, key) if given; the CONNACK or
/// the reason there was none.
async fn tracker(
    port: u16,
    account: (&str, &str),
    ca: &str,
    client: Option<(&str, &str)>,
) -> Result<AsyncClient, String> {
    let (cert_file, key_file) = client.unwrap_or(("", ""));
    let files = TlsFiles {
        ca_file: ca,
        cert_file,
        key_file,
    };
    let mut o = MqttOptions::new(account.0, "127.0.0.1", port);
    o.set_credentials(account.0, account.1)
        .set_transport(fleetd::tls::mqtt::transport(true, files).map_err(|e| e.to_string())?);
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll())
            .await
            .expect("no answer within 10 s")
        {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(code)) => return Err(format!("{code:?}")),
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    Ok(client)
}

async fn credentials(api: &Api, id: &str) -> (String, String) {
    let r = api
        .admin
        .send(
            "POST",
            &format!("/v1/vehicles/{id}/tracker-credentials"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let c = r.json();
    (
        c["username"].as_str().unwrap().to_string(),
        c["password"].as_str().unwrap().to_string(),
    )
}

fn reading(ts: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"ts": ts, "lat": 52.5, "lon": 13.4, "speed_kmh": 30.0})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_travel_over_tls_from_tracker_to_database_and_redis() {
    let certs = Certs::new();
    let redis = TlsRedis::start(&certs);
    let ca = certs.file("ca.crt");
    let (redis_url, ca_for_config) = (redis.url(), ca.clone());
    let database_ca = database_ca().await;
    let api = Api::start_with_broker(
        Broker::start_tls(certs.path(), false),
        move |c| {
            c.mqtt.tls_ca_file = ca_for_config.clone();
            c.redis.url = redis_url;
            c.redis.tls_ca_file = ca_for_config;
            let url = c.database.url.expose();
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}sslmode=verify-full&sslrootcert={database_ca}");
            c.database.url = fleetd::config::Secret::new(url);
        },
        fleetd::clock::Clock::new(),
    )
    .await;
    vehicle(&api.admin, "tls-1", 1).await;
    let (user, pass) = credentials(&api, "tls-1").await;
    let t = tracker(api.broker.port, (&user, &pass), &ca, None)
        .await
        .expect("a tracker trusting the CA connects");
    let t0 = (now_ms() - 60_000) / 1000 * 1000;
    for i in 0..20 {
        t.publish(
            "fleet/tls-1/gps",
            QoS::AtLeastOnce,
            false,
            reading(t0 + i * 1000),
        )
        .await
        .unwrap();
    }
    let sql = api.db.client().await;
    let stored = "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'tls-1'";
    wait_count(&sql, stored, 20).await;

    // Every connection the daemon holds to its database is encrypted.
    let daemon_links = format!(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = '{}' AND a.application_name LIKE 'fleetd%'",
        api.db.name
    );
    assert!(count(&sql, &daemon_links).await >= 2);
    let plain = format!("{daemon_links} AND NOT s.ssl");
    assert_eq!(count(&sql, &plain).await, 0);

    // The live position reached Redis over TLS.
    let files = TlsFiles {
        ca_file: &ca,
        ..TlsFiles::default()
    };
    let client = fleetd::live::redis::client(&redis.url(), files).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ts: Option<String> = redis::cmd("HGET")
            .arg(fleetd::live::redis::key("tls-1"))
            .arg("ts")
            .query_async(&mut conn)
            .await
            .unwrap();
        if ts.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no Redis status for tls-1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_link_refuses_a_peer_it_cannot_verify() {
    let certs = Certs::new();
    let stranger = Certs::new(); // another CA, which signed nothing of ours
    let api = Api::start_with_broker(
        Broker::start_tls(certs.path(), true),
        |c| {
            c.mqtt.tls_ca_file = certs.file("ca.crt");
            c.mqtt.tls_cert_file = certs.file("client.crt");
            c.mqtt.tls_key_file = certs.file("client.key");
        },
        fleetd::clock::Clock::new(),
    )
    .await;
    vehicle(&api.admin, "tls-2", 1).await;
    let (user, pass) = credentials(&api, "tls-2").await;
    let account = (user.as_str(), pass.as_str());
    let port = api.broker.port;
    let (ca, cert, key) = (
        certs.file("ca.crt"),
        certs.file("client.crt"),
        certs.file("client.key"),
    );

    // The broker asks for a client certificate: with one signed by its CA the tracker is in.
    tracker(port, account, &ca, Some((&cert, &key)))
        .await
        .expect("a tracker with a client certificate connects");
    // Without one, or with a stranger's, the handshake fails.
    let e = tracker(port, account, &ca, None)
        .await
        .expect_err("refused");
    assert!(e.contains("Tls") || e.contains("Io"), "{e}");
    let (s_cert, s_key) = (stranger.file("client.crt"), stranger.file("client.key"));
    assert!(tracker(port, account, &ca, Some((&s_cert, &s_key)))
        .await
        .is_err());
    // A client that does not trust the broker's CA gives up on the broker.
    let e = tracker(port, account, &stranger.file("ca.crt"), Some((&cert, &key)))
        .await
        .expect_err("refused");
    // (Both CAs have the same name, so the check fails on the signature.)
    assert!(e.contains("InvalidCertificate"), "{e}");
    // Plain MQTT on the TLS port gets nowhere.
    let mut o = MqttOptions::new("plain", "127.0.0.1", port);
    o.set_credentials(account.0, account.1);
    let (_c, mut eventloop) = AsyncClient::new(o, 10);
    let plain = tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await;
    assert!(!matches!(
        plain,
        Ok(Ok(Event::Incoming(Packet::ConnAck(_))))
    ));

    // PostgreSQL: verify-full against a CA that did not sign the server's certificate fails;
    // against the right one it connects, encrypted.
    let url = &api.db.url;
    let sep = if url.contains('?') { '&' } else { '?' };
    let wrong = format!(
        "{url}{sep}sslmode=verify-full&sslrootcert={}",
        stranger.file("ca.crt")
    );
    let e = fleetd::db::PgTarget::new(&wrong)
        .unwrap()
        .connect()
        .await
        .err()
        .expect("a server signed by another CA is refused");
    assert!(format!("{e:?}").contains("InvalidCertificate"), "{e:?}");
    let (client, connection) = fleetd::db::PgTarget::new(&verified(url).await)
        .unwrap()
        .connect()
        .await
        .expect("verify-full against the right CA connects");
    tokio::spawn(connection);
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
    // A file that is not there is named when the target is built.
    let missing = format!("{url}{sep}sslmode=verify-ca&sslrootcert=/nonexistent/ca.crt");
    let e = fleetd::db::PgTarget::new(&missing)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("/nonexistent/ca.crt"), "{e}");

    // Redis over TLS with the wrong CA: no connection.
    let redis = TlsRedis::start(&certs);
    let files = TlsFiles {
        ca_file: &stranger.file("ca.crt"),
        ..TlsFiles::default()
    };
    let client = fleetd::live::redis::client(&redis.url(), files).unwrap();
    assert!(client.get_multiplexed_async_connection().await.is_err());
}
