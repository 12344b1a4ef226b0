//! The sessions report as the text `fleetd broker sessions` prints: one line per client id,
//! then the broker's totals.

use std::fmt::Write;

use super::probe::Totals;
use super::{Action, Owner, Report};

fn owner(o: Owner) -> &'static str {
    match o {
        Owner::ThisConfig => "this config",
        Owner::RunningDaemon => "running daemon",
        Owner::Orphan => "orphan",
    }
}

fn session(present: Option<bool>) -> &'static str {
    match present {
        None => "not probed",
        Some(true) => "present",
        Some(false) => "none",
    }
}

fn number(v: Option<f64>) -> String {
    v.map_or("unknown".into(), |v| format!("{v:.0}"))
}

fn totals(label: &str, t: &Totals) -> String {
    format!(
        "{label}: {} stored messages, {} stored bytes, {} disconnected clients\n",
        number(t.stored_messages),
        number(t.stored_bytes),
        number(t.disconnected_clients)
    )
}

/// The report as aligned text.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "{:<24} {:<15} {:<10} {:<20} {}\n",
        "CLIENT_ID", "OWNER", "SESSION", "LAST_SEEN", "ACTION"
    );
    for r in &report.rows {
        let seen = r.recorded.as_ref().map_or("not recorded".into(), |rec| {
            rec.last_seen.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let action = match &r.action {
            Action::None => "-".to_string(),
            Action::Dropped { drained } => format!("drained {drained} messages, dropped"),
            Action::Failed(why) => format!("FAILED: {why}"),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<15} {:<10} {:<20} {}",
            r.client_id,
            owner(r.owner),
            session(r.session_present),
            seen,
            action
        );
    }
    out.push_str(&totals("broker", &report.before));
    if let Some(after) = &report.after {
        out.push_str(&totals("broker after dropping", after));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Row;
    use super::*;

    #[test]
    fn rows_show_owner_session_and_action() {
        let row = |id: &str, owner, present, action| Row {
            client_id: id.into(),
            owner,
            recorded: None,
            session_present: present,
            action,
        };
        let report = Report {
            rows: vec![
                row("fleetd-0", Owner::ThisConfig, None, Action::None),
                row(
                    "old-1",
                    Owner::Orphan,
                    Some(true),
                    Action::Dropped { drained: 12 },
                ),
                row(
                    "old-2",
                    Owner::Orphan,
                    None,
                    Action::Failed("db down".into()),
                ),
            ],
            before: Totals {
                stored_messages: Some(12.0),
                ..Totals::default()
            },
            after: Some(Totals::default()),
        };
        let text = render(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("CLIENT_ID"));
        assert!(lines[1].contains("this config") && lines[1].contains("not probed"));
        assert!(lines[2].contains("orphan") && lines[2].ends_with("drained 12 messages, dropped"));
        assert!(lines[3].ends_with("FAILED: db down"));
        assert_eq!(
            lines[4],
            "broker: 12 stored messages, unknown stored bytes, unknown disconnected clients"
        );
        assert!(lines[5].starts_with("broker after dropping: unknown"));
        assert!(report.failed());
    }
}
