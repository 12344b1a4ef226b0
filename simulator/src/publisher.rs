//! `fleet-sim run`: MQTT connections, one generator thread per connection (or, with
//! `--credentials`, one connection per vehicle, each as its own tracker, and `--connections`
//! generator threads), PubAck counting, progress and shutdown.
//!
//! Each connection has one tokio task that does nothing but poll its rumqttc `EventLoop`
//! (it must never block: it counts PubAcks and otherwise loops). Generation is CPU-bound, so
//! each connection's shard runs on its own OS thread and hands payloads to the event loop
//! through `AsyncClient::publish` (a bounded channel): when the broker's QoS 1 in-flight
//! window is full, the event loop stops taking requests, the channel fills, and the
//! generator waits, which is the `--max-rate` flow control.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::QoS;
use tokio::runtime::Handle;

use crate::config::{RateMode, RunConfig};
use crate::connection::{connect, Conn, Link};
use crate::generator::Generator;
use crate::manifest::{self, Header, KindCounts, FAULT_NAMES};
use crate::pacing::{self, Pacer, PlanError};
use crate::payload::{self, FUTURE_SKEW_MS};
use crate::provision::credentials;
use crate::report::{self, ReportInput, RunReport};
use crate::shard::Shard;
use crate::stats::{ConnCounters, ConnSnapshot, GenCounters, GenSnapshot};
use crate::truth;

/// How long the end of a run waits for outstanding PubAcks: long enough for a slow broker
/// to work off what the connections hold (up to `inflight` plus a channel's worth each; a
/// NATS cluster storing each QoS 1 publish before its PubAck can take a minute on a loaded
/// machine), so that what it would still have acknowledged is not counted as lost.
const ACK_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// ... or until no PubAck arrived for this long: longer than a NATS leader election (4 to
/// 9 s), during which no PubAck comes.
const ACK_STALL_TIMEOUT: Duration = Duration::from_secs(12);

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The broker did not accept a connection.
    #[error("cannot connect to the broker at {scheme}://{host}:{port}: {message}")]
    Connect {
        scheme: &'static str,
        host: String,
        port: u16,
        message: String,
    },
    /// The run cannot keep its readings inside the acceptance window.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The manifest could not be written.
    #[error("cannot write manifest {path}: {source}")]
    Manifest {
        path: String,
        source: std::io::Error,
    },
    /// The truth file could not be written.
    #[error("cannot write truth file {path}: {source}")]
    Truth {
        path: String,
        source: std::io::Error,
    },
    /// A generator thread panicked (a bug).
    #[error("a generator thread failed")]
    Generator,
    /// The TLS certificate files cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The credentials file cannot be used.
    #[error(transparent)]
    Credentials(#[from] crate::provision::credentials::CredentialsError),
}

/// Vehicles connecting at once with `--credentials`.
const CONNECT_CONCURRENCY: usize = 64;

pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn sum_conns(conns: &[Conn]) -> ConnSnapshot {
    let mut s = ConnSnapshot::default();
    for c in conns {
        s.add(&c.counters.snapshot());
    }
    s
}

fn spawn_progress(
    conns: Vec<Arc<ConnCounters>>,
    qos: u8,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let snap = || {
            let mut s = ConnSnapshot::default();
            conns.iter().for_each(|c| s.add(&c.snapshot()));
            s
        };
        let start = Instant::now();
        let (mut prev, mut last) = (snap(), Instant::now());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            if done.load(Relaxed) {
                break;
            }
            let now = snap();
            let line = report::progress_line(
                start.elapsed().as_secs_f64(),
                last.elapsed().as_secs_f64(),
                &prev,
                &now,
                qos,
            );
            if tty {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
            (prev, last) = (now, Instant::now());
        }
        if tty {
            eprintln!();
        }
    })
}

fn spawn_signal_handler(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("fleet-sim: stopping, flushing buffered readings");
        stop.store(true, Relaxed);
    });
}

/// Runs the simulation against the broker and returns the report.
pub async fn run(cfg: RunConfig) -> Result<RunReport, RunError> {
    let sim = &cfg.sim;
    let connections = cfg.connections.min(sim.vehicles).max(1);
    let backlog = match cfg.backlog {
        Some(b) => b.as_millis() as i64,
        None => pacing::backlog_ms(
            cfg.rate,
            cfg.duration,
            cfg.readings,
            sim.natural_rate(),
            sim.max_period_ms(),
        )?,
    };
    let run_id = epoch_ms();
    let t0_ms = run_id - backlog;
    let shutting = Arc::new(AtomicBool::new(false));
    let accounts = match &cfg.credentials {
        Some(path) => Some(credentials::for_fleet(
            &credentials::load(path)?,
            path,
            &sim.id_prefix,
            sim.vehicles,
        )?),
        None => None,
    };
    let transport = cfg.mqtt_tls.transport(&cfg.mqtt).map_err(RunError::Tls)?;
    let transport = &transport;
    let mut conns = Vec::new();
    match &accounts {
        None => {
            for c in 0..connections {
                conns.push(connect(&cfg, transport, c, run_id, shutting.clone(), None).await?);
            }
        }
        Some(accounts) => {
            use futures_util::stream::{self, StreamExt, TryStreamExt};
            conns = stream::iter(accounts.iter().enumerate())
                .map(|(v, a)| connect(&cfg, transport, v as u32, run_id, shutting.clone(), Some(a)))
                .buffered(CONNECT_CONCURRENCY)
                .try_collect()
                .await?;
        }
    }
    // Shard c's connections: its own, or those of its vehicles c, c + connections, ...
    let links = |c: u32| -> Vec<Link> {
        match accounts {
            None => vec![conns[c as usize].link()],
            Some(_) => (c..sim.vehicles)
                .step_by(connections as usize)
                .map(|v| conns[v as usize].link())
                .collect(),
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_handler(stop.clone());
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!cfg.quiet).then(|| {
        spawn_progress(
            conns.iter().map(|c| c.counters.clone()).collect(),
            cfg.qos,
            done.clone(),
        )
    });

    let shard_vehicles: Vec<u32> = (0..connections)
        .map(|c| (sim.vehicles - c).div_ceil(connections))
        .collect();
    let limits = cfg
        .readings
        .map(|n| pacing::split_readings(n, &shard_vehicles));
    let qos = if cfg.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    let gen_counters: Vec<Arc<GenCounters>> = (0..connections)
        .map(|_| Arc::new(GenCounters::default()))
        .collect();
    let mut threads = Vec::new();
    for c in 0..connections as usize {
        let pacer = match cfg.rate {
            RateMode::Fixed(r) => Some(Pacer {
                per_s: r * f64::from(shard_vehicles[c]) / f64::from(sim.vehicles),
            }),
            _ => None,
        };
        let (sim, counters) = (sim.clone(), gen_counters[c].clone());
        let manifest = cfg.manifest.is_some();
        let truth = cfg.truth.is_some();
        let vehicles = (c as u32..sim.vehicles).step_by(connections as usize);
        let links = links(c as u32);
        let stop = stop.clone();
        let handle = Handle::current();
        let limit = limits.as_ref().map(|l| l[c]);
        let (prefix, id_prefix) = (sim.prefix.clone(), sim.id_prefix.clone());
        let width = payload::id_width(sim.vehicles);
        let generator = move |shard| Generator {
            shard,
            links,
            first_vehicle: c as u32,
            stride: connections,
            handle,
            qos,
            limit,
            deadline,
            pacer,
            start,
            stop,
            prefix,
            id_prefix,
            width,
            abandoned: false,
            finishing: false,
            last_progress: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("fleet-sim-gen-{c}"))
            .spawn(move || {
                // Creating a million vehicles takes a while: on this thread, not the runtime's.
                let shard = Shard::new(&sim, vehicles, t0_ms, counters, manifest);
                let shard = if truth { shard.with_truth() } else { shard };
                generator(shard).run()
            })
            .map_err(|_| RunError::Generator)?;
        threads.push(thread);
    }
    let mut shards = Vec::new();
    for t in threads {
        let joined = tokio::task::spawn_blocking(move || t.join()).await;
        shards.push(
            joined
                .map_err(|_| RunError::Generator)?
                .map_err(|_| RunError::Generator)?,
        );
    }
    let generated_s = start.elapsed().as_secs_f64();

    if qos == QoS::AtLeastOnce {
        // Wait for outstanding PubAcks, but not for a broker that has stopped answering.
        let until = Instant::now() + ACK_DRAIN_TIMEOUT;
        let (mut acked, mut moved) = (sum_conns(&conns).acked_payloads, Instant::now());
        while Instant::now() < until && moved.elapsed() < ACK_STALL_TIMEOUT {
            let s = sum_conns(&conns);
            if s.acked_payloads >= s.payloads {
                break;
            }
            if s.acked_payloads != acked {
                (acked, moved) = (s.acked_payloads, Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let duration_s = start.elapsed().as_secs_f64().max(generated_s);
    shutting.store(true, Relaxed);
    for c in &conns {
        // Queued behind every publish, so QoS 0 payloads are written before it.
        let _ = tokio::time::timeout(Duration::from_secs(2), c.client.disconnect()).await;
    }
    for c in &mut conns {
        if tokio::time::timeout(Duration::from_secs(5), &mut c.task)
            .await
            .is_err()
        {
            c.task.abort();
        }
    }
    done.store(true, Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }

    let mut generated = GenSnapshot::default();
    gen_counters
        .iter()
        .for_each(|g| generated.add(&g.snapshot()));
    let published = sum_conns(&conns);
    if let Some(path) = &cfg.manifest {
        // Writing a million lines blocks for a moment; let the runtime know.
        tokio::task::block_in_place(|| write_manifest(&cfg, path, &mut shards, &generated, t0_ms))?;
    }
    if let Some(path) = &cfg.truth {
        tokio::task::block_in_place(|| write_truth(&cfg, path, &mut shards, t0_ms))?;
    }
    Ok(RunReport::new(ReportInput {
        duration_s,
        vehicles: sim.vehicles,
        format: sim.format,
        qos: cfg.qos,
        connections: conns.len() as u32,
        generated: &generated,
        published: &published,
        t0_ms,
        manifest: cfg.manifest.as_ref().map(|p| p.display().to_string()),
        truth: cfg.truth.as_ref().map(|p| p.display().to_string()),
    }))
}

fn write_manifest(
    cfg: &RunConfig,
    path: &std::path::Path,
    shards: &mut [Shard],
    g: &GenSnapshot,
    t0_ms: i64,
) -> Result<(), RunError> {
    let mut vehicles: Vec<_> = shards.iter_mut().flat_map(|s| s.take_manifest()).collect();
    vehicles.sort_by(|a, b| a.id.cmp(&b.id));
    let header = Header {
        fleet_sim_manifest: 1,
        seed: cfg.sim.seed,
        prefix: cfg.sim.prefix.clone(),
        id_prefix: cfg.sim.id_prefix.clone(),
        vehicles: cfg.sim.vehicles,
        format: cfg.sim.format.as_str().to_string(),
        gps_period_ms: cfg.sim.gps_period_ms,
        obd_period_ms: cfg.sim.obd_period_ms,
        t0_ms,
        window_from_ms: t0_ms,
        // Future-skewed readings are stamped up to 10 minutes after the end; they must not
        // be stored, and verify looks for them.
        window_to_ms: epoch_ms() + FUTURE_SKEW_MS + 60_000,
        expected: KindCounts {
            gps: g.expected[0],
            obd: g.expected[1],
        },
        faults: FAULT_NAMES
            .iter()
            .zip(g.faults)
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        duplicates_sent: g.duplicates_sent,
    };
    manifest::write(path, &header, &vehicles).map_err(|source| RunError::Manifest {
        path: path.display().to_string(),
        source,
    })
}

fn write_truth(
    cfg: &RunConfig,
    path: &std::path::Path,
    shards: &mut [Shard],
    t0_ms: i64,
) -> Result<(), RunError> {
    let mut vehicles: Vec<_> = shards.iter_mut().flat_map(|s| s.take_truth()).collect();
    vehicles.sort_by(|a, b| a.v.cmp(&b.v));
    let header = truth::TruthHeader {
        fleet_sim_truth: truth::TRUTH_VERSION,
        seed: cfg.sim.seed,
        id_prefix: cfg.sim.id_prefix.clone(),
        vehicles: cfg.sim.vehicles,
        gps_period_ms: cfg.sim.gps_period_ms,
        obd_period_ms: cfg.sim.obd_period_ms,
        accel_ms2: crate::vehicle::ACCEL_MS2,
        t0_ms,
        end_ms: vehicles
            .iter()
            .map(|v| v.last_gps_ms)
            .max()
            .unwrap_or(t0_ms),
    };
    truth::write(path, &header, &vehicles).map_err(|source| RunError::Truth {
        path: path.display().to_string(),
        source,
    })
}
