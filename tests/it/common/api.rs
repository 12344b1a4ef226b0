//! HTTP client helpers for the `/v1` API tests: any method, JSON bodies, headers, and a
//! daemon started with the API enabled and an admin token at hand.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{json, Value};

use super::{config, Broker, InProcess, TestDb, BROKER_ADMIN};

pub const SECRET: &str = "test-secret-test-secret-test-secret!";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The daemon's broker account on a secured broker.
pub const DAEMON_ACCOUNT: (&str, &str) = ("fleetd", "daemon-password-1");

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error envelope's code (asserting the envelope's shape).
    pub fn code(&self) -> String {
        let j = self.json();
        assert!(j["error"]["message"].is_string(), "{j}");
        assert!(j["error"]["request_id"].is_string(), "{j}");
        j["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

/// Sends one request with a raw body; `Connection: close`. Panics if it cannot connect.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    try_raw(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`raw`], returning connection errors (for polling a server that is still starting).
pub async fn try_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> std::io::Result<Resp> {
    let head = {
        let mut h = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        h
    };
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(head.as_bytes())?;
        // The server may answer 413 and close before reading a huge body.
        let _ = s.write_all(&body);
        Ok(parse(&read_answer(&mut s)))
    })
    .await
    .unwrap()
}

/// Reads until the server closes, except that an event stream (which never ends) is
/// returned as soon as its head has arrived.
fn read_answer(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut head_seen = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
        if head_seen {
            continue;
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            head_seen = true;
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            if head.contains("content-type: text/event-stream") {
                return raw;
            }
        }
    }
}

fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// A client holding one bearer token (or none).
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Client {
    pub fn anonymous(addr: SocketAddr) -> Client {
        Client { addr, token: None }
    }

    /// The same credentials against another daemon.
    pub fn with_addr(&self, addr: SocketAddr) -> Client {
        Client {
            addr,
            token: self.token.clone(),
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            addr: self.addr,
            token: Some(token.to_string()),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let bytes = match body {
            Some(b) => {
                headers.push(("Content-Type", "application/json"));
                serde_json::to_vec(b).unwrap()
            }
            None => Vec::new(),
        };
        raw(self.addr, method, path, &headers, bytes).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(&body), &[]).await
    }

    pub async fn post_key(&self, path: &str, body: Value, key: &str) -> Resp {
        self.send("POST", path, Some(&body), &[("Idempotency-Key", key)])
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send("PATCH", path, Some(&body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None, &[]).await
    }

    /// Logs in and returns a client with the token.
    pub async fn login(&self, username: &str, password: &str) -> Client {
        let r = Client::anonymous(self.addr)
            .post(
                "/v1/auth/token",
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.with_token(r.json()["access_token"].as_str().unwrap())
    }

    /// Creates a user (as this client, an admin) and logs in as it; returns its id too.
    pub async fn user(&self, username: &str, role: &str) -> (Client, String) {
        let r = self
            .post(
                "/v1/users",
                serde_json::json!({"username": username, "password": "password-123", "role": role}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.json()["id"].as_str().unwrap().to_string();
        (self.login(username, "password-123").await, id)
    }
}

/// A daemon with the API enabled; `admin` is logged in.
pub struct Api {
    pub db: TestDb,
    pub broker: Broker,
    pub daemon: InProcess,
    pub admin: Client,
}

impl Api {
    pub async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut fleetd::config::Config)) -> Api {
        Api::start_on(tweak, fleetd::clock::Clock::new()).await
    }

    /// A daemon whose clock stands at `at` until the returned hand moves it.
    pub async fn start_at(at: chrono::DateTime<chrono::Utc>) -> (Api, fleetd::clock::ClockHand) {
        Api::start_at_with(at, |_| {}).await
    }

    /// [`Api::start_at`] with the config tweaked.
    pub async fn start_at_with(
        at: chrono::DateTime<chrono::Utc>,
        tweak: impl FnOnce(&mut fleetd::config::Config),
    ) -> (Api, fleetd::clock::ClockHand) {
        let (clock, hand) = fleetd::clock::Clock::manual(at);
        (Api::start_on(tweak, clock).await, hand)
    }

    /// A daemon on a [`Broker::start_secured`] broker, set up as `fleetd broker setup` does:
    /// it connects as [`DAEMON_ACCOUNT`] and administers trackers as [`BROKER_ADMIN`].
    pub async fn start_secured(tweak: impl FnOnce(&mut fleetd::config::Config)) -> Api {
        Api::start_with_broker(Broker::start_secured(), tweak, fleetd::clock::Clock::new()).await
    }

    async fn start_on(
        tweak: impl FnOnce(&mut fleetd::config::Config),
        clock: fleetd::clock::Clock,
    ) -> Api {
        Api::start_with_broker(Broker::start(), tweak, clock).await
    }

    /// A daemon on `broker` (secured or not, TLS or not), `tweak`ed, on `clock`.
    pub async fn start_with_broker(
        broker: Broker,
        tweak: impl FnOnce(&mut fleetd::config::Config),
        clock: fleetd::clock::Clock,
    ) -> Api {
        let db = TestDb::create().await;
        let mut c = config(&db, &broker);
        c.ingest.unknown_vehicles = fleetd::config::UnknownVehicles::Reject;
        if broker.is_secured() {
            c.mqtt.username = DAEMON_ACCOUNT.0.into();
            c.mqtt.password = fleetd::config::Secret::new(DAEMON_ACCOUNT.1);
            c.broker.admin_username = BROKER_ADMIN.0.into();
            c.broker.admin_password = fleetd::config::Secret::new(BROKER_ADMIN.1);
        }
        c.jwt.secret = fleetd::config::Secret::new(SECRET);
        c.admin.password = fleetd::config::Secret::new(ADMIN_PASSWORD);
        c.http.rate_limit_per_minute = 0;
        c.http.login_per_minute = 0;
        c.database.pool_size = 24;
        tweak(&mut c);
        c.validate().unwrap();
        if broker.is_secured() {
            let admin = fleetd::broker::Admin::start(&c).unwrap().unwrap();
            fleetd::broker::setup(&admin, &c).await.unwrap();
        }
        let daemon = InProcess::start_on(c, clock).await;
        let admin = Client::anonymous(daemon.addr)
            .login("admin", ADMIN_PASSWORD)
            .await;
        Api {
            db,
            broker,
            daemon,
            admin,
        }
    }

    pub fn anonymous(&self) -> Client {
        Client::anonymous(self.daemon.addr)
    }
}

/// A token signed with the test secret.
pub fn sign(claims: serde_json::Value) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// A valid vehicle body with id `id` (VINs differ per id).
pub fn vehicle_body(id: &str, n: u32) -> Value {
    serde_json::json!({
        "id": id,
        "plate": format!("PL-{n}"),
        "vin": vin(n),
        "make": "Volvo",
        "model": "FH16",
        "year": 2021,
        "type": "truck",
        "seats": 2,
        "load_kg": 18000,
        "specs": {"fuel": "diesel", "axles": 3}
    })
}

/// A VIN with a correct North American check digit (the crate's own), distinct for each `n`.
pub fn vin(n: u32) -> String {
    let mut vin = format!("1M8GDM90{n:09}");
    let digit = fleetd::api::vehicles::vin::check_digit(&vin).expect("17 valid characters");
    vin.replace_range(8..9, &digit.to_string());
    vin
}

// Fixtures shared by the API test files.

/// The standard pricing plan used across the rental tests.
pub fn standard_plan() -> Value {
    json!({"name": "standard", "currency": "EUR", "daily_rate": 5000, "included_km_per_day": 200,
           "extra_km_rate": 30, "late_fee_per_hour": 1500, "free_cancellation_hours": 48,
           "cancellation_fee_pct": 20})
}

/// Registers a vehicle and returns its JSON.
pub async fn vehicle(c: &Client, id: &str, n: u32) -> Value {
    let r = c.post("/v1/vehicles", vehicle_body(id, n)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

/// A driver user with a profile: (its client, driver id).
pub async fn driver(api: &Api, name: &str) -> (Client, String) {
    let (client, user_id) = api.admin.user(name, "driver").await;
    let r = api
        .admin
        .post(
            "/v1/drivers",
            json!({"user_id": user_id, "name": name, "licence_number": format!("L-{name}"), "licence_expiry": "2099-01-01"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (client, r.json()["id"].as_str().unwrap().to_string())
}

pub async fn plan(a: &Client, body: Value) -> String {
    let r = a.post("/v1/pricing-plans", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// A customer user with a customer profile: (client, customer id).
pub async fn customer(api: &Api, name: &str) -> (Client, String) {
    let (client, user) = api.admin.user(name, "customer").await;
    let r = api
        .admin
        .post(
            "/v1/customers",
            json!({"name": name, "email": format!("{name}@example.com"), "user_id": user}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (client, r.json()["id"].as_str().unwrap().to_string())
}

/// Vehicle `v-1`, the standard plan, and customer alice reserving `v-1` from 100 to 148
/// hours from now (asserted 201): alice's client, her customer id, the rental's id.
pub async fn alice_reserves(api: &Api) -> (Client, String, String) {
    let a = &api.admin;
    vehicle(a, "v-1", 1).await;
    let p = plan(a, standard_plan()).await;
    let (alice, cust) = customer(api, "alice").await;
    let r = alice
        .post(
            "/v1/rentals",
            reserve_body("v-1", &p, &hours_from_now(100), &hours_from_now(148), 0),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    (alice, cust, id)
}

pub fn reserve_body(vehicle: &str, plan: &str, from: &str, to: &str, km: i64) -> Value {
    json!({"vehicle_id": vehicle, "plan_id": plan, "starts_at": from, "ends_at": to, "estimated_km": km})
}

pub fn ids(r: &Resp) -> Vec<String> {
    r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// `hours` from now, as RFC 3339 (for windows relative to the clock).
pub fn hours_from_now(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()
}

/// Registers vehicle `v` (the `n`th) and reserves it for `customer` on `plan` from `start_h`
/// hours from now for `hours` hours, `km` estimated: the answer, asserted 201.
pub async fn reserve_new_vehicle(
    a: &Client,
    (v, n): (&str, u32),
    customer: &str,
    plan: &str,
    (start_h, hours): (i64, i64),
    km: i64,
) -> Resp {
    vehicle(a, v, n).await;
    let body = json!({"vehicle_id": v, "customer_id": customer, "plan_id": plan,
        "starts_at": hours_from_now(start_h), "ends_at": hours_from_now(start_h + hours),
        "estimated_km": km});
    let r = a.post("/v1/rentals", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r
}

/// Assigns `driver` to `vehicle` from an hour ago for `hours` more hours (as `a`, staff):
/// the assignment a driver needs to take the vehicle now. Returns its id.
pub async fn assign_now(a: &Client, driver: &str, vehicle: &str, hours: i64) -> String {
    let body = json!({"driver_id": driver, "vehicle_id": vehicle,
                      "starts_at": hours_from_now(-1), "ends_at": hours_from_now(hours)});
    let r = a.post("/v1/assignments", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}
