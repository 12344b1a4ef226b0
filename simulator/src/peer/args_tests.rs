use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

/// Parses `fleet-sim peer ARGS…`. The tests assume no `FLEETD_BENCH_*` variable is set.
fn parse(args: &[&str]) -> Result<PeerCommand, clap::Error> {
    let argv = ["fleet-sim", "peer"].iter().chain(args);
    match Cli::try_parse_from(argv)?.command {
        Command::Peer(p) => Ok(p.command),
        other => panic!("{other:?}"),
    }
}

fn nearest(args: &[&str]) -> Result<NearestStep, clap::Error> {
    let mut v = vec!["nearest"];
    v.extend(args);
    match parse(&v)? {
        PeerCommand::Nearest(n) => Ok(n.step),
        other => panic!("{other:?}"),
    }
}

#[test]
fn counts_and_limits() {
    assert_eq!(parse_threads("1"), Ok(1));
    assert_eq!(parse_threads("256"), Ok(256));
    assert_eq!(parse_k("1000"), Ok(1000));
    assert_eq!(parse_queries("1_000"), Ok(1000));
    assert_eq!(parse_concurrency("50"), Ok(50));
    for bad in ["0", "-1", "257", "1.5", "two", ""] {
        assert!(parse_threads(bad).is_err(), "{bad:?}");
    }
    for bad in ["0", "1001", "-10"] {
        assert!(parse_k(bad).is_err(), "{bad}");
    }
    assert!(parse_queries("0").is_err() && parse_queries("1000001").is_err());
    assert!(parse_concurrency("0").is_err() && parse_concurrency("10001").is_err());
    let e = parse_k("1001").unwrap_err();
    assert!(e.contains("1 to 1000"), "{e}");
}

#[test]
fn radii() {
    assert_eq!(parse_radius_m("5000"), Ok(5000.0));
    assert_eq!(parse_radius_m("0.5"), Ok(0.5));
    assert_eq!(parse_radius_m("20000000"), Ok(20_000_000.0));
    for bad in ["0", "-5", "20000001", "NaN", "inf", "5km", ""] {
        assert!(parse_radius_m(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn addresses_and_urls() {
    assert!(parse_http_addr("127.0.0.1:18081").is_ok());
    assert!(parse_http_addr("localhost:80").is_ok());
    for bad in [
        "127.0.0.1",
        ":80",
        "h:0",
        "h:70000",
        "h:x",
        "http://h:80",
        "h:",
    ] {
        assert!(parse_http_addr(bad).is_err(), "{bad}");
    }
    assert!(parse_database_url("postgres://postgres@127.0.0.1:5432/fleetd_bench").is_ok());
    assert!(parse_database_url("host=127.0.0.1 user=postgres").is_ok());
    // libpq's TLS settings, as fleetd's database.url takes them.
    assert!(parse_database_url(
        "postgres://postgres@127.0.0.1:5432/fleetd_bench?sslmode=verify-full&sslrootcert=/tmp/ca.crt"
    )
    .is_ok());
    for bad in [
        "",
        "postgres://h:notaport/db",
        "mysql://h/db",
        "postgres://h/db?sslmode=sometimes",
    ] {
        assert!(parse_database_url(bad).is_err(), "{bad:?}");
    }
    assert!(parse_redis_url("redis://127.0.0.1:6379").is_ok());
    for bad in ["127.0.0.1:6379", "http://h:6379", "redis://h:notaport", ""] {
        assert!(parse_redis_url(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn count_and_naive_defaults_and_flags() {
    let PeerCommand::Count(c) = parse(&["count"]).unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.mqtt_url.host.as_str(), c.mqtt_url.port, c.readings),
        ("127.0.0.1", 1884, 100_000)
    );
    assert_eq!((c.prefix.as_str(), c.qos), ("fleet", 1));
    assert!(!c.mqtt_url.tls && c.mqtt_tls.mqtt_ca_file.is_none());
    let PeerCommand::Count(c) = parse(&[
        "count",
        "--mqtt-url",
        "mqtts://127.0.0.1:8884",
        "--mqtt-ca-file",
        "/nonexistent/fleet-sim/ca.crt",
    ])
    .unwrap() else {
        panic!()
    };
    assert!(c.mqtt_url.tls && c.mqtt_url.port == 8884);
    assert_eq!(
        c.mqtt_tls.mqtt_ca_file.as_deref(),
        Some(std::path::Path::new("/nonexistent/fleet-sim/ca.crt"))
    );
    // Read when the subscriber starts: a missing CA file is named.
    let e = c.mqtt_tls.transport(&c.mqtt_url).err().unwrap();
    assert!(
        e.contains("CA file: cannot read /nonexistent/fleet-sim/ca.crt"),
        "{e}"
    );
    let PeerCommand::Naive(n) = parse(&[
        "naive",
        "--mqtt-url",
        "mqtt://10.0.0.1:1999",
        "--readings",
        "20000",
        "--prefix",
        "nv123",
        "--qos",
        "0",
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/fleetd_bench",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            n.subscribe.mqtt_url.port,
            n.subscribe.readings,
            n.subscribe.qos
        ),
        (1999, 20_000, 0)
    );
    assert_eq!(n.subscribe.prefix, "nv123");
    let e = parse(&["naive"]).unwrap_err().to_string();
    assert!(e.contains("--database-url"), "naive needs a database: {e}");
}

#[test]
fn nearest_steps_defaults_and_flags() {
    let NearestStep::Setup(s) = nearest(&["setup"]).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.common.spread, s.common.seed, s.common.threads),
        (SpreadName::City, 42, 1)
    );
    assert_eq!(s.prefix, "nb-");
    assert!(s.common.database_url.ends_with("/fleetd_nearest"));
    let NearestStep::Agree(a) =
        nearest(&["agree", "--spread", "country", "--queries", "20"]).unwrap()
    else {
        panic!()
    };
    assert_eq!((a.common.spread, a.queries), (SpreadName::Country, 20));
    assert_eq!((a.query.k, a.query.radius_m), (10, 5000.0));
    assert_eq!(a.query.fleetd.http_addr, "127.0.0.1:18081");
    let NearestStep::Load(l) = nearest(&[
        "load",
        "--target",
        "postgis",
        "--concurrency",
        "4",
        "--seconds",
        "2",
        "--warmup",
        "0",
        "--k",
        "5",
        "--radius-m",
        "2500",
        "--threads",
        "2",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (l.target, l.target.as_str(), l.concurrency),
        (TargetName::Postgis, "postgis", 4)
    );
    assert_eq!(
        (l.seconds, l.warmup),
        (Duration::from_secs(2), Duration::ZERO)
    );
    assert_eq!(
        (l.query.k, l.query.radius_m, l.common.threads),
        (5, 2500.0, 2)
    );
    let NearestStep::Load(l) = nearest(&["load"]).unwrap() else {
        panic!()
    };
    assert_eq!(
        (l.target, l.concurrency, l.seconds, l.warmup),
        (
            TargetName::Fleetd,
            16,
            Duration::from_secs(10),
            Duration::from_secs(2)
        )
    );
}

#[test]
fn bad_values_name_their_flag() {
    for (args, flag) in [
        (&["count", "--readings", "0"][..], "--readings"),
        (&["count", "--readings", "lots"][..], "--readings"),
        (&["count", "--qos", "2"][..], "--qos"),
        (&["count", "--mqtt-url", "http://x"][..], "--mqtt-url"),
        (&["count", "--prefix", "a/#"][..], "--prefix"),
        (&["naive", "--database-url", ""][..], "--database-url"),
        (&["nearest", "setup", "--spread", "town"][..], "--spread"),
        (&["nearest", "setup", "--prefix", "nb'"][..], "--prefix"),
        (&["nearest", "setup", "--threads", "0"][..], "--threads"),
        (&["nearest", "setup", "--seed=-1"][..], "--seed"),
        (
            &["nearest", "setup", "--redis-url", "h:1"][..],
            "--redis-url",
        ),
        (&["nearest", "agree", "--queries", "0"][..], "--queries"),
        (&["nearest", "agree", "--k", "0"][..], "--k"),
        (&["nearest", "agree", "--radius-m=-1"][..], "--radius-m"),
        (
            &["nearest", "agree", "--http-addr", "fleetd"][..],
            "--http-addr",
        ),
        (&["nearest", "load", "--target", "mysql"][..], "--target"),
        (
            &["nearest", "load", "--concurrency", "0"][..],
            "--concurrency",
        ),
        (&["nearest", "load", "--seconds", "0"][..], "--seconds"),
        (&["nearest", "load", "--seconds", "soon"][..], "--seconds"),
        (&["nearest", "load", "--warmup=-1"][..], "--warmup"),
    ] {
        let e = parse(args).unwrap_err().to_string();
        assert!(e.contains(flag), "{args:?}: {e}");
    }
    // Query flags belong to agree and load, not to setup.
    let e = parse(&["nearest", "setup", "--k", "5"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--k"), "{e}");
    // A step is required.
    assert!(parse(&["nearest"]).is_err() && parse(&[]).is_err());
}
