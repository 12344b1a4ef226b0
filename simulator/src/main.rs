//! fleet-sim: see `fleet_sim` (lib.rs) for the layout and README for usage.
//!
//! Exit codes: 0 success; 1 `run` finished but something was not acknowledged or a
//! connection or publish error occurred, or `verify` (or `verify --trips`) found differences;
//! 2 bad flags or a failure to run at all (broker or database unreachable, unreadable
//! manifest or truth file, no trips tables), or a `peer` tool failed.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use fleet_sim::cli::{self, Cli, Command};
use fleet_sim::{bench, peer, provision, publisher, verify, verify_trips};

fn usage_error(message: String) -> ! {
    clap::Error::raw(
        clap::error::ErrorKind::ValueValidation,
        format!("{message}\n"),
    )
    .exit()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn run(args: cli::RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.into_config().unwrap_or_else(|m| usage_error(m));
    let json = cfg.json;
    let report = runtime()?.block_on(publisher::run(cfg))?;
    if json {
        eprint!("{}", report.text());
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    let clean =
        report.unacked_payloads == 0 && report.connection_errors == 0 && report.publish_errors == 0;
    Ok(verdict(clean))
}

fn verify_trips(args: cli::VerifyArgs) -> anyhow::Result<ExitCode> {
    let t = args.trip_rules;
    let ms = |d: std::time::Duration| d.as_millis() as i64;
    let cfg = verify_trips::TripsVerifyConfig {
        truth: t.truth.context("--trips needs --truth")?,
        database_url: args.database_url,
        examples: args.examples,
        min_speed_kmh: t.min_speed_kmh,
        min_stop_s: t.min_stop_s,
        min_trip_m: t.min_trip_m,
        min_trip_s: t.min_trip_s,
        jitter_m: t.jitter_m,
        margin_ms: t.margin.map(ms),
        tolerance_ms: t.tolerance.map(ms),
        distance_pct: t.distance_pct,
    };
    let report = runtime()?.block_on(verify_trips::verify_trips(&cfg))?;
    if args.json {
        eprint!("{}", report.text());
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(verdict(report.ok))
}

fn verify(args: cli::VerifyArgs) -> anyhow::Result<ExitCode> {
    args.check().unwrap_or_else(|m| usage_error(m));
    if args.trips {
        return verify_trips(args);
    }
    let cfg = verify::VerifyConfig {
        manifest: args.manifest.context("--manifest is required")?,
        database_url: args.database_url,
        examples: args.examples,
    };
    let report = runtime()?.block_on(verify::verify(&cfg))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(verdict(report.ok))
}

fn bench(args: cli::BenchArgs) -> anyhow::Result<ExitCode> {
    let sim = args.sim.into_config().unwrap_or_else(|m| usage_error(m));
    let report = bench::bench(&sim, args.readings);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(ExitCode::SUCCESS)
}

fn provision(args: cli::ProvisionArgs) -> anyhow::Result<ExitCode> {
    let json = args.json;
    let cfg = args.into_config();
    let report = runtime()?.block_on(provision::provision(&cfg))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "fleet-sim provision: {} accounts issued, {} already in {}, {:.1} s",
            report.issued,
            report.kept,
            cfg.out.display(),
            report.seconds
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::with_default_command(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Run(a) => run(a),
        Command::Verify(a) => verify(a),
        Command::Bench(a) => bench(a),
        Command::Peer(a) => peer::run(a).map(|()| ExitCode::SUCCESS),
        Command::Provision(a) => provision(a),
    };
    result.unwrap_or_else(|e| {
        eprintln!("fleet-sim: error: {e:#}");
        ExitCode::from(2)
    })
}

/// Exit status 0 when everything checked out, else 1.
fn verdict(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
