use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut v: Vec<OsString> = vec!["fleet-sim".into()];
    v.extend(args.iter().map(OsString::from));
    Cli::try_parse_from(with_default_command(v))
}

fn run_config(args: &[&str]) -> Result<RunConfig, String> {
    match parse(args).map_err(|e| e.to_string())?.command {
        Command::Run(a) => a.into_config(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
    for bad in ["", "s", "10x", "-5s", "0s", "1.2.3s", "5 m", "40d", "999h"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_linger("0"), Ok(Duration::ZERO));
    assert_eq!(parse_linger("0s"), Ok(Duration::ZERO));
    assert_eq!(parse_linger("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_backlog("0"), Ok(Duration::ZERO));
    assert_eq!(parse_backlog("2h"), Ok(Duration::from_secs(7200)));
    assert!(parse_backlog("30d").is_err() && parse_backlog("700h").is_err());
}

#[test]
fn rates_percentages_and_counts() {
    assert_eq!(parse_rate("2500"), Ok(2500.0));
    for bad in ["0", "-1", "nan", "inf", "fast"] {
        assert!(parse_rate(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_percent("0"), Ok(0.0));
    assert_eq!(parse_percent("100"), Ok(100.0));
    for bad in ["-0.1", "100.1", "x", "NaN"] {
        assert!(parse_percent(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_vehicles("1"), Ok(1));
    assert_eq!(parse_vehicles("1_000_000"), Ok(1_000_000));
    for bad in ["0", "1000001", "-3", "ten"] {
        assert!(parse_vehicles(bad).is_err(), "{bad}");
    }
    assert!(
        parse_batch("0").is_err() && parse_batch("1001").is_err() && parse_batch("1000").is_ok()
    );
    assert!(
        parse_hz("0").is_ok()
            && parse_hz("1000").is_ok()
            && parse_hz("1001").is_err()
            && parse_hz("-1").is_err()
    );
    assert_eq!(period_ms(0.2), Some(5000));
    assert_eq!(period_ms(3.0), Some(333));
    assert_eq!(period_ms(0.0), None);
    assert!(parse_readings("0").is_err());
    assert!(parse_qos("2").is_err() && parse_qos("1").is_ok());
}

#[test]
fn regions() {
    let r = parse_region("52.35,13.08,52.68,13.76").unwrap();
    assert_eq!(r, Region::BERLIN);
    assert!(parse_region("-34.1,150.9,-33.6,151.4").is_ok());
    for bad in [
        "52.35,13.08,52.68",
        "52.68,13.08,52.35,13.76",
        "95,0,96,1",
        "0,170,1,190",
        "a,b,c,d",
        "0,179,1,-179",
    ] {
        assert!(parse_region(bad).is_err(), "{bad}");
    }
}

#[test]
fn urls() {
    assert_eq!(
        parse_mqtt_url("mqtt://127.0.0.1:1883"),
        Ok(MqttTarget {
            host: "127.0.0.1".into(),
            port: 1883,
            tls: false
        })
    );
    assert_eq!(
        parse_mqtt_url("tcp://broker"),
        Ok(MqttTarget {
            host: "broker".into(),
            port: 1883,
            tls: false
        })
    );
    assert_eq!(
        parse_mqtt_url("mqtt://[::1]:1884/"),
        Ok(MqttTarget {
            host: "::1".into(),
            port: 1884,
            tls: false
        })
    );
    for bad in [
        "127.0.0.1:1883",
        "http://x:1",
        "mqtt://",
        "mqtt://:1883",
        "mqtt://h:0",
        "mqtt://h:70000",
        "mqtt://h:x",
        "mqtt://h/topic",
        "mqtts://",
        "mqtts://:8884",
        "mqtts://h:0",
        "mqtts://h:99999",
        "mqtts://h:port",
        "ssl://",
        "https://h:8884",
    ] {
        assert!(parse_mqtt_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn tls_urls() {
    assert_eq!(
        parse_mqtt_url("mqtts://127.0.0.1:8884"),
        Ok(MqttTarget {
            host: "127.0.0.1".into(),
            port: 8884,
            tls: true
        })
    );
    let t = parse_mqtt_url("ssl://broker.example/").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.tls),
        ("broker.example", 8883, true)
    );
    let t = parse_mqtt_url("mqtts://[::1]").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.scheme()),
        ("::1", 8883, "mqtts")
    );
    assert_eq!(parse_mqtt_url("mqtt://h").unwrap().scheme(), "mqtt");
    let e = parse_mqtt_url("mqtts://").unwrap_err();
    assert!(e.contains("no host"), "{e}");
    let e = parse_mqtt_url("mqtts://h:70000").unwrap_err();
    assert!(e.contains("not 1-65535"), "{e}");
}

/// A CA certificate that rustls accepts as a trust anchor (scripts/tls.sh makes the real ones).
fn write_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=fleet-sim test CA"])
        .arg("-keyout")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("ca.crt"))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    dir.join("ca.crt")
}

#[test]
fn tls_flags() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path());
    let ca = ca.to_str().unwrap();
    let c = run_config(&["--mqtt-url", "mqtts://127.0.0.1:8884", "--mqtt-ca-file", ca]).unwrap();
    assert!(c.mqtt.tls && c.mqtt.port == 8884);
    assert_eq!(
        c.mqtt_tls.mqtt_ca_file.as_deref(),
        Some(std::path::Path::new(ca))
    );
    assert!(matches!(
        c.mqtt_tls.transport(&c.mqtt),
        Ok(rumqttc::Transport::Tls(_))
    ));
    // The system's trust store when no CA is named; plain TCP for mqtt://.
    let c = run_config(&["--mqtt-url", "mqtts://broker.example"]).unwrap();
    assert!(c.mqtt.tls && c.mqtt_tls == crate::tls::MqttTlsArgs::default());
    let c = run_config(&[]).unwrap();
    assert!(matches!(
        c.mqtt_tls.transport(&c.mqtt),
        Ok(rumqttc::Transport::Tcp)
    ));

    let missing = dir.path().join("nope.crt");
    let missing = missing.to_str().unwrap();
    let e = run_config(&["--mqtt-url", "mqtts://h:8884", "--mqtt-ca-file", missing]).unwrap_err();
    assert!(
        e.contains("CA file: cannot read") && e.contains(missing),
        "{e}"
    );
    let e = run_config(&["--mqtt-url", "mqtt://h:1884", "--mqtt-ca-file", ca]).unwrap_err();
    assert!(e.contains("need an mqtts://"), "{e}");
    let e = run_config(&["--mqtt-url", "mqtts://h", "--mqtt-cert-file", ca])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--mqtt-key-file"), "{e}");
    let e = parse(&["--mqtt-url", "mqtts://", "--mqtt-ca-file", ca])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--mqtt-url") && e.contains("no host"), "{e}");
    let e = parse(&["--mqtt-url", "mqtts://h:x"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--mqtt-url") && e.contains("\"x\""), "{e}");
    // A client certificate and key that are not PEM: named.
    let e = run_config(&[
        "--mqtt-url",
        "mqtts://h",
        "--mqtt-ca-file",
        ca,
        "--mqtt-cert-file",
        missing,
        "--mqtt-key-file",
        missing,
    ])
    .unwrap_err();
    assert!(
        e.contains("client certificate") && e.contains(missing),
        "{e}"
    );
}

#[test]
fn prefixes() {
    assert!(parse_prefix("fleet").is_ok() && parse_prefix("acme/fleet").is_ok());
    for bad in ["", "/fleet", "fleet/", "fl+eet", "a//b", "#"] {
        assert!(parse_prefix(bad).is_err(), "{bad}");
    }
    assert!(parse_id_prefix("veh-").is_ok() && parse_id_prefix("").is_ok());
    assert!(parse_id_prefix("veh/").is_err() && parse_id_prefix(&"x".repeat(58)).is_err());
}

#[test]
fn run_is_the_default_command_and_defaults_apply() {
    let c = run_config(&[
        "--mqtt-url",
        "mqtt://10.1.2.3:1999",
        "--vehicles",
        "2000",
        "--duration",
        "60s",
    ])
    .unwrap();
    assert_eq!(
        c.mqtt,
        MqttTarget {
            host: "10.1.2.3".into(),
            port: 1999,
            tls: false
        }
    );
    assert_eq!(c.sim.vehicles, 2000);
    assert_eq!(c.duration, Some(Duration::from_secs(60)));
    assert_eq!((c.qos, c.connections, c.rate), (1, 4, RateMode::RealTime));
    assert_eq!(
        (c.sim.gps_period_ms, c.sim.obd_period_ms),
        (Some(1000), Some(5000))
    );
    assert_eq!(
        (c.sim.format, c.sim.batch, c.sim.prefix.as_str()),
        (Format::Json, 100, "fleet")
    );
    let c = run_config(&[]).unwrap();
    assert_eq!(c.duration, Some(Duration::from_secs(60)));
    let c = run_config(&[
        "run",
        "--readings",
        "10",
        "--max-rate",
        "--region",
        "-34.1,150.9,-33.6,151.4",
    ])
    .unwrap();
    assert_eq!(
        (c.duration, c.readings, c.rate),
        (None, Some(10), RateMode::Max)
    );
    assert!(matches!(
        parse(&[
            "verify",
            "--manifest",
            "m",
            "--database-url",
            "postgres://x"
        ])
        .unwrap()
        .command,
        Command::Verify(_)
    ));
    assert!(parse(&["--help"]).is_err(), "help is not a run");
}

#[test]
fn bad_values_name_their_flag() {
    for (args, flag) in [
        (&["--duration", "soon"][..], "--duration"),
        (&["--rate", "0"][..], "--rate"),
        (&["--vehicles", "0"][..], "--vehicles"),
        (&["--vehicles", "1000001"][..], "--vehicles"),
        (&["--fault-malformed", "101"][..], "--fault-malformed"),
        (&["--region", "1,2,3"][..], "--region"),
        (&["--mqtt-url", "http://x"][..], "--mqtt-url"),
        (&["--format", "xml"][..], "--format"),
    ] {
        let e = parse(args).unwrap_err().to_string();
        assert!(e.contains(flag), "{args:?}: {e}");
    }
    let e = parse(&["--rate", "10", "--max-rate"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--max-rate"), "{e}");
    let e = run_config(&["--fault-malformed", "60", "--fault-duplicate", "50"]).unwrap_err();
    assert!(e.contains("--fault-malformed") && e.contains("110"), "{e}");
    let e = run_config(&["--gps-hz", "0", "--obd-hz", "0"]).unwrap_err();
    assert!(e.contains("--gps-hz"), "{e}");
}

#[test]
fn verify_trips_flags() {
    let verify = |args: &[&str]| {
        let mut v = vec!["verify", "--database-url", "postgres://x"];
        v.extend_from_slice(args);
        parse(&v).map(|c| match c.command {
            Command::Verify(a) => a,
            other => panic!("{other:?}"),
        })
    };
    let a = verify(&[
        "--trips",
        "--truth",
        "t.jsonl",
        "--margin",
        "5s",
        "--tolerance",
        "0",
    ])
    .unwrap();
    assert!(a.trips && a.manifest.is_none());
    let t = a.trip_rules;
    assert_eq!(t.truth.as_deref(), Some(std::path::Path::new("t.jsonl")));
    assert_eq!(
        (t.margin, t.tolerance),
        (Some(Duration::from_secs(5)), Some(Duration::ZERO))
    );
    assert_eq!(
        (t.min_stop_s, t.min_trip_s, t.min_trip_m, t.jitter_m),
        (300, 300, 500.0, 30.0)
    );
    assert_eq!((t.min_speed_kmh, t.distance_pct), (5.0, 1.0));
    let a = verify(&["--manifest", "m.jsonl"]).unwrap();
    assert!(!a.trips && a.trip_rules.truth.is_none());
    for (args, flag) in [
        (&["--trips"][..], "--truth"),
        (
            &["--trips", "--truth", "t", "--manifest", "m"][..],
            "--manifest",
        ),
        (&[][..], "--manifest"),
        (
            &["--trips", "--truth", "t", "--min-stop-s", "0"][..],
            "--min-stop-s",
        ),
        (
            &["--trips", "--truth", "t", "--jitter-m", "0"][..],
            "--jitter-m",
        ),
        (
            &["--trips", "--truth", "t", "--distance-pct", "101"][..],
            "--distance-pct",
        ),
    ] {
        let e = verify(args).unwrap_err().to_string();
        assert!(e.contains(flag), "{args:?}: {e}");
    }
    let stray = verify(&["--truth", "t.jsonl", "--manifest", "m"]).unwrap();
    assert!(stray.check().unwrap_err().contains("--trips"));
    let c = run_config(&["--truth", "t.jsonl", "--readings", "10"]).unwrap();
    assert_eq!(c.truth.as_deref(), Some(std::path::Path::new("t.jsonl")));
}
