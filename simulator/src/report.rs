//! The live progress line and the final report (text, or JSON with `--json`).

use serde::Serialize;

use crate::manifest::FAULT_NAMES;
use crate::payload::{Format, Kind};
use crate::stats::{ConnSnapshot, GenSnapshot};

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One progress line: the rates over the last interval and the totals so far.
pub fn progress_line(
    elapsed_s: f64,
    interval_s: f64,
    prev: &ConnSnapshot,
    now: &ConnSnapshot,
    qos: u8,
) -> String {
    let rate =
        |a: u64, b: u64| thousands(((b - a.min(b)) as f64 / interval_s.max(1e-9)).round() as u64);
    let acked = if qos == 0 {
        "acked n/a (qos 0)".to_string()
    } else {
        format!("{} acked/s", rate(prev.acked_payloads, now.acked_payloads))
    };
    format!(
        "[{elapsed_s:>6.1}s] {} readings/s, {} payloads/s, {acked} | total {} readings, {} payloads, {} acked | errors {}",
        rate(prev.readings, now.readings),
        rate(prev.payloads, now.payloads),
        thousands(now.readings),
        thousands(now.payloads),
        thousands(now.acked_payloads),
        now.errors(),
    )
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerFormat {
    pub json: u64,
    pub json_batch: u64,
    pub binary: u64,
}

impl PerFormat {
    fn of(v: [u64; 3]) -> Self {
        PerFormat {
            json: v[Format::Json.index()],
            json_batch: v[Format::JsonBatch.index()],
            binary: v[Format::Binary.index()],
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KindReport {
    pub generated: u64,
    pub expected: u64,
    pub by_format: PerFormat,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rates {
    pub readings_per_s: f64,
    pub payloads_per_s: f64,
    pub acked_payloads_per_s: f64,
    pub megabytes_per_s: f64,
}

/// The machine-readable report of `fleet-sim run --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    pub duration_s: f64,
    pub vehicles: u32,
    pub format: String,
    pub qos: u8,
    pub connections: u32,
    /// Readings generated (each once, good or bad; duplicate copies excluded).
    pub readings: u64,
    /// Readings that should be stored (valid, in window, counted once).
    pub expected: u64,
    pub gps: KindReport,
    pub obd: KindReport,
    /// Readings per fault type (offline: readings buffered while offline).
    pub faults: std::collections::BTreeMap<String, u64>,
    /// Extra copies sent by `--fault-duplicate`.
    pub duplicates_sent: u64,
    /// Payloads handed to the MQTT client, including duplicate copies.
    pub payloads: u64,
    pub bytes: u64,
    /// QoS 1 PubAcks received (0 with QoS 0).
    pub acked_payloads: u64,
    /// Readings in acknowledged payloads (approximate after a reconnect).
    pub acked_readings: u64,
    /// Payloads never acknowledged (QoS 1).
    pub unacked_payloads: u64,
    pub connection_errors: u64,
    /// Reconnects the broker answered without the session: it had forgotten the
    /// unacknowledged payloads, which were published again (`republished_payloads`).
    pub sessions_lost: u64,
    pub republished_payloads: u64,
    /// Publishes that waited for their packet id to be acknowledged (out-of-order PubAcks,
    /// or a resend after a reconnect); each was sent once the id was free.
    pub collisions: u64,
    pub publish_errors: u64,
    /// Readings never published because the broker stopped taking payloads (not in the
    /// manifest).
    pub abandoned_readings: u64,
    pub rates: Rates,
    /// First `ts` of the simulated clock (epoch ms).
    pub t0_ms: i64,
    pub manifest: Option<String>,
    /// The ground truth file (`--truth`).
    pub truth: Option<String>,
}

pub struct ReportInput<'a> {
    pub duration_s: f64,
    pub vehicles: u32,
    pub format: Format,
    pub qos: u8,
    pub connections: u32,
    pub generated: &'a GenSnapshot,
    pub published: &'a ConnSnapshot,
    pub t0_ms: i64,
    pub manifest: Option<String>,
    pub truth: Option<String>,
}

impl RunReport {
    pub fn new(i: ReportInput<'_>) -> Self {
        let (g, p) = (i.generated, i.published);
        let secs = i.duration_s.max(1e-9);
        let kind = |k: Kind| KindReport {
            generated: g.readings[k.index()],
            expected: g.expected[k.index()],
            by_format: PerFormat::of(g.by_format[k.index()]),
        };
        RunReport {
            duration_s: i.duration_s,
            vehicles: i.vehicles,
            format: i.format.as_str().to_string(),
            qos: i.qos,
            connections: i.connections,
            readings: g.total_readings(),
            expected: g.expected.iter().sum(),
            gps: kind(Kind::Gps),
            obd: kind(Kind::Obd),
            faults: FAULT_NAMES
                .iter()
                .zip(g.faults)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            duplicates_sent: g.duplicates_sent,
            payloads: p.payloads,
            bytes: p.bytes,
            acked_payloads: p.acked_payloads,
            acked_readings: p.acked_readings,
            unacked_payloads: if i.qos == 1 {
                p.payloads.saturating_sub(p.acked_payloads)
            } else {
                0
            },
            connection_errors: p.connection_errors,
            sessions_lost: p.sessions_lost,
            republished_payloads: p.republished_payloads,
            collisions: p.collisions,
            publish_errors: p.publish_errors,
            abandoned_readings: p.abandoned_readings,
            rates: Rates {
                readings_per_s: p.readings as f64 / secs,
                payloads_per_s: p.payloads as f64 / secs,
                acked_payloads_per_s: p.acked_payloads as f64 / secs,
                megabytes_per_s: p.bytes as f64 / 1e6 / secs,
            },
            t0_ms: i.t0_ms,
            manifest: i.manifest,
            truth: i.truth,
        }
    }

    pub fn text(&self) -> String {
        let t = thousands;
        let fmt = |f: &PerFormat| {
            format!(
                "json {}, json-batch {}, binary {}",
                t(f.json),
                t(f.json_batch),
                t(f.binary)
            )
        };
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("{} {}", k.replace('_', "-"), t(*n)))
            .collect();
        let mut s = format!(
            "fleet-sim: {:.1} s, {} vehicles, format {}, qos {}, {} connections\n",
            self.duration_s,
            t(u64::from(self.vehicles)),
            self.format,
            self.qos,
            self.connections
        );
        s += &format!(
            "readings  {} ({}/s): gps {}, obd {}; expected to be stored {}\n",
            t(self.readings),
            t(self.rates.readings_per_s as u64),
            t(self.gps.generated),
            t(self.obd.generated),
            t(self.expected)
        );
        s += &format!(
            "  gps by format: {}\n  obd by format: {}\n",
            fmt(&self.gps.by_format),
            fmt(&self.obd.by_format)
        );
        s += &format!(
            "faults    {}; duplicate copies sent {}\n",
            faults.join(", "),
            t(self.duplicates_sent)
        );
        s += &format!(
            "payloads  {} published ({}/s, {:.1} MB/s), {} acked ({}/s), {} unacked\n",
            t(self.payloads),
            t(self.rates.payloads_per_s as u64),
            self.rates.megabytes_per_s,
            t(self.acked_payloads),
            t(self.rates.acked_payloads_per_s as u64),
            t(self.unacked_payloads)
        );
        s += &format!(
            "errors    {} connection, {} publish ({} readings abandoned)\n",
            t(self.connection_errors),
            t(self.publish_errors),
            t(self.abandoned_readings),
        );
        if self.sessions_lost > 0 {
            s += &format!(
                "sessions  {} reconnects without the session; {} unacked payloads published again\n",
                t(self.sessions_lost),
                t(self.republished_payloads),
            );
        }
        if self.collisions > 0 {
            s += &format!(
                "pkids     {} publishes waited for their packet id to be acknowledged\n",
                t(self.collisions)
            );
        }
        if let Some(m) = &self.manifest {
            s += &format!("manifest  {m}\n");
        }
        if let Some(t) = &self.truth {
            s += &format!("truth     {t}\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn progress_shows_rates_and_totals() {
        let prev = ConnSnapshot {
            readings: 1000,
            payloads: 100,
            acked_payloads: 90,
            ..Default::default()
        };
        let now = ConnSnapshot {
            readings: 3000,
            payloads: 300,
            acked_payloads: 290,
            publish_errors: 1,
            ..Default::default()
        };
        let line = progress_line(2.0, 1.0, &prev, &now, 1);
        assert!(line.contains("2,000 readings/s"), "{line}");
        assert!(line.contains("200 acked/s"), "{line}");
        assert!(
            line.contains("total 3,000 readings, 300 payloads, 290 acked | errors 1"),
            "{line}"
        );
        assert!(progress_line(2.0, 1.0, &prev, &now, 0).contains("n/a"));
    }

    #[test]
    fn report_adds_up() {
        let g = GenSnapshot {
            readings: [10, 2],
            by_format: [[10, 0, 0], [2, 0, 0]],
            expected: [9, 2],
            faults: [1, 0, 0, 0, 0, 0],
            duplicates_sent: 0,
        };
        let p = ConnSnapshot {
            payloads: 12,
            readings: 12,
            bytes: 1_000_000,
            acked_payloads: 11,
            acked_readings: 11,
            ..Default::default()
        };
        let r = RunReport::new(ReportInput {
            duration_s: 2.0,
            vehicles: 1,
            format: Format::Json,
            qos: 1,
            connections: 1,
            generated: &g,
            published: &p,
            t0_ms: 0,
            manifest: None,
            truth: None,
        });
        assert_eq!((r.readings, r.expected, r.unacked_payloads), (12, 11, 1));
        assert_eq!(r.rates.readings_per_s, 6.0);
        assert_eq!(r.faults["malformed"], 1);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["gps"]["by_format"]["json"], 10);
        assert!(r.text().contains("1 unacked"));
    }
}
