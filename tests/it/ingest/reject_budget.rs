//! A flood of bad payloads from one vehicle cannot fill `telemetry_rejects`: past its reject
//! budget (`ingest.rejects_per_minute`, `ingest.rejects_burst`) rejects are only counted, while
//! its good readings, and every other vehicle's rejects, are still recorded.

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_rejects_is_counted_not_recorded() {
    let db = TestDb::create().await;
    let broker = Broker::start();
    let mut c = config(&db, &broker);
    // One token a minute: nothing refills while the test runs.
    c.ingest.rejects_per_minute = 1;
    c.ingest.rejects_burst = 3;
    let daemon = InProcess::start(c).await;
    let publisher = Publisher::connect(&broker).await;
    let sql = db.client().await;
    let t = now_ms() - 60_000;

    for i in 0..20 {
        publisher
            .publish("fleet/noisy/gps", format!("{{broken {i}"))
            .await;
    }
    // Other topics of the same vehicle share its budget (bad_topic rejects).
    for i in 0..5 {
        publisher.publish(&format!("fleet/noisy/x{i}"), "{}").await;
    }
    // Its good readings are stored all the same, and another vehicle has its own budget.
    publisher
        .publish(
            "fleet/noisy/gps",
            json!({"ts": t, "lat": 1.0, "lon": 2.0}).to_string(),
        )
        .await;
    publisher.publish("fleet/quiet/gps", "{broken").await;
    publisher.wait_acked(27).await;
    wait_count(
        &sql,
        "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'noisy'",
        1,
    )
    .await;
    wait_count(
        &sql,
        "SELECT count(*) FROM telemetry_rejects WHERE topic = 'fleet/quiet/gps'",
        1,
    )
    .await;
    let addr = daemon.addr;
    let counted = |name: &'static str| async move { metric(addr, name, "").await };
    // Every message resolved: 26 rejected payloads, 3 + 1 recorded, the rest counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while counted("fleetd_readings_rejected_total").await
        + counted("fleetd_rejects_unrecorded_total").await
        < 26.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "rejects never all resolved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM telemetry_rejects WHERE topic LIKE 'fleet/noisy/%'"
        )
        .await,
        3
    );
    assert_eq!(counted("fleetd_readings_rejected_total").await, 4.0);
    assert_eq!(counted("fleetd_rejects_unrecorded_total").await, 22.0);
    assert_eq!(
        metric(
            addr,
            "fleetd_rejects_unrecorded_total",
            "reason=\"bad_topic\""
        )
        .await
            + metric(
                addr,
                "fleetd_rejects_unrecorded_total",
                "reason=\"malformed_json\""
            )
            .await,
        22.0
    );
    daemon.shutdown().await;
}
