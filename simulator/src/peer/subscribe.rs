//! The end-to-end benchmark's subscriber loop, shared by `count` and `naive`: subscribes to
//! `{prefix}/#`, decodes every message with fleetd's own decoder and counts its readings
//! (stored, rejected or not) until `--readings` arrived or nothing came for 30 s.
//!
//! Prints `{"mode","ready":true}` once subscribed, then one JSON line:
//! `{"mode", "readings", "messages", "seconds", "readings_per_s"}`. The clock starts at the
//! first message and stops at the last reading.

use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use fleetd::ingest::decode::decode;
use fleetd::ingest::decoders::now_us;
use fleetd::ingest::reading::{Kind, Window};
use fleetd::ingest::topic::parse_topic;

use super::args::SubscribeArgs;
use super::naive::RowWriter;

/// With no message for this long the publisher is taken to be done.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// Runs the loop; with a `writer`, each GPS message's readings are inserted before the next
/// message is read (the naive baseline's write path).
pub async fn consume(
    mode: &str,
    args: &SubscribeArgs,
    writer: Option<&RowWriter>,
) -> anyhow::Result<()> {
    let mut o = MqttOptions::new(
        format!("bench-{mode}-{:x}", rand::random::<u32>()),
        args.mqtt_url.host.as_str(),
        args.mqtt_url.port,
    );
    let transport = args
        .mqtt_tls
        .transport(&args.mqtt_url)
        .map_err(anyhow::Error::msg)?;
    o.set_max_packet_size(1 << 20, 1 << 20)
        .set_keep_alive(Duration::from_secs(30))
        .set_transport(transport);
    let (client, mut eventloop) = AsyncClient::new(o, 1000);
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    client
        .subscribe(format!("{}/#", args.prefix), qos)
        .await
        .context("subscribe")?;
    println!("{{\"mode\":\"{mode}\",\"ready\":true}}");

    let window = Window {
        max_future: Duration::from_secs(300),
        max_age: Duration::from_secs(30 * 86_400),
    };
    let (mut readings, mut messages) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    while readings < args.readings {
        let Ok(event) = tokio::time::timeout(IDLE_LIMIT, eventloop.poll()).await else {
            break;
        };
        let Ok(Event::Incoming(Packet::Publish(p))) = event else {
            continue;
        };
        first.get_or_insert_with(Instant::now);
        messages += 1;
        let Ok((vehicle, kind)) = parse_topic(&args.prefix, &p.topic) else {
            continue;
        };
        let decoded = decode(kind, &p.payload, now_us(), &window);
        readings += (decoded.gps.len() + decoded.obd.len() + decoded.rejects.len()) as u64;
        if let (Some(w), Kind::Gps) = (writer, kind) {
            w.insert_gps(vehicle, &decoded.gps).await?;
        }
    }
    let seconds = first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(0.0);
    println!(
        "{{\"mode\":\"{mode}\",\"readings\":{readings},\"messages\":{messages},\"seconds\":{seconds:.3},\"readings_per_s\":{:.0}}}",
        readings as f64 / seconds.max(1e-9)
    );
    Ok(())
}
