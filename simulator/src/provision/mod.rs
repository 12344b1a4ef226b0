//! `fleet-sim provision`: a broker account for every simulated vehicle's tracker, issued
//! through fleetd's API (`POST /v1/vehicles/{id}/tracker-credentials`) and kept in a
//! credentials file that `fleet-sim run --credentials` reads. Vehicles already in the file
//! are skipped, so a second run only fills the gaps; what was issued before an error is
//! saved before the error is reported.

pub mod credentials;
pub mod http;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::payload;
use credentials::Credential;

/// What `fleet-sim provision` needs.
#[derive(Debug, Clone)]
pub struct ProvisionConfig {
    /// fleetd's API: `http://host:port`.
    pub api_url: String,
    pub username: String,
    pub password: String,
    pub vehicles: u32,
    pub id_prefix: String,
    pub out: PathBuf,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// What a provisioning run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProvisionReport {
    pub issued: usize,
    pub kept: usize,
    pub seconds: f64,
}

/// Logs in, issues the missing accounts, saves the file.
pub async fn provision(cfg: &ProvisionConfig) -> anyhow::Result<ProvisionReport> {
    let start = Instant::now();
    let authority = http::authority(&cfg.api_url).map_err(anyhow::Error::msg)?;
    let mut accounts: HashMap<String, Credential> = if cfg.out.exists() {
        credentials::load(&cfg.out)?
    } else {
        HashMap::new()
    };
    let width = payload::id_width(cfg.vehicles);
    let wanted: Vec<String> = (0..cfg.vehicles)
        .map(|v| payload::vehicle_id(&cfg.id_prefix, width, v))
        .collect();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|id| !accounts.contains_key(*id))
        .cloned()
        .collect();
    let kept = wanted.len() - missing.len();
    if missing.is_empty() {
        return Ok(ProvisionReport {
            issued: 0,
            kept,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    let token = login(&authority, &cfg.username, &cfg.password).await?;
    let results: Vec<Result<Credential, String>> = stream::iter(missing)
        .map(|id| issue(&authority, &token, id))
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut issued = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(c) => {
                accounts.insert(c.vehicle_id.clone(), c);
                issued += 1;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    credentials::save(&cfg.out, &accounts)?;
    if let Some(e) = first_error {
        anyhow::bail!("{e} ({issued} accounts issued and saved; run again to fill the gaps)");
    }
    Ok(ProvisionReport {
        issued,
        kept,
        seconds: start.elapsed().as_secs_f64(),
    })
}

async fn login(authority: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let body = json!({"username": username, "password": password});
    let a = http::request(authority, "POST", "/v1/auth/token", None, Some(&body))
        .await
        .map_err(anyhow::Error::msg)?;
    match a.body["access_token"].as_str() {
        Some(t) if a.status == 200 => Ok(t.to_string()),
        _ => anyhow::bail!(
            "login as {username} failed: HTTP {} {}",
            a.status,
            a.text.chars().take(200).collect::<String>()
        ),
    }
}

/// How many times one account is asked for while the API answers 429.
const RATE_LIMITED_ATTEMPTS: u32 = 120;

async fn issue(authority: &str, token: &str, vehicle_id: String) -> Result<Credential, String> {
    let path = format!("/v1/vehicles/{vehicle_id}/tracker-credentials");
    let mut attempts = 0;
    let a = loop {
        let a = http::request(authority, "POST", &path, Some(token), None).await?;
        attempts += 1;
        if a.status != 429 || attempts >= RATE_LIMITED_ATTEMPTS {
            break a;
        }
        // Over the API's rate limit: wait as told, then ask again.
        let wait = a.retry_after.unwrap_or(1).clamp(1, 60);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    };
    let field = |k: &str| a.body[k].as_str().map(str::to_string);
    match (a.status, field("username"), field("password")) {
        (201, Some(username), Some(password)) => Ok(Credential {
            vehicle_id,
            username,
            password,
        }),
        _ => Err(format!(
            "POST {path}: HTTP {} {}",
            a.status,
            a.text.chars().take(200).collect::<String>()
        )),
    }
}
