//! Delivering one claimed queue: its events in id order, one POST each, signed; each outcome
//! recorded at once (`webhooks_record`). The first failure that may still be retried ends
//! the run: the queue is due again after a backoff, and the aggregate's later events wait
//! behind it. A delivery past `webhooks.max_retry_hours` is dead-lettered instead, and the
//! next one goes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use uuid::Uuid;

use super::{guard, sign};
use crate::clock::Clock;
use crate::config::WebhooksConfig;
use crate::metrics::Metrics;

/// Longest error text kept with a delivery.
const MAX_ERROR: usize = 500;

/// A subscription as the relay delivers to it.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
}

/// A queue: the aggregate type and id whose events it holds.
pub type Queue = (String, String);

/// A claim on queues: its token, and when its lease runs out.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub token: Uuid,
    pub until: DateTime<Utc>,
}

/// One pending delivery of a claimed queue.
#[derive(Debug, Clone)]
pub struct Pending {
    pub event_id: i64,
    pub event_type: String,
    pub body: String,
    pub attempts: i32,
    pub queued_at: DateTime<Utc>,
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

/// One attempt's outcome as `webhooks_record` takes it.
struct Record {
    /// `delivered`, `retry` or `failed` (dead letter).
    outcome: &'static str,
    status: Option<u16>,
    error: Option<String>,
    at: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
}

/// What the chain tasks share.
pub struct Deliverer {
    pub pool: deadpool_postgres::Pool,
    pub client: reqwest::Client,
    pub clock: Clock,
    pub config: WebhooksConfig,
    pub metrics: Arc<Metrics>,
}

/// The HTTP client deliveries go through: no redirects, no proxy, the guarded resolver, a
/// timeout per delivery, rustls with fleetd's provider.
pub fn client(config: &WebhooksConfig) -> anyhow::Result<reqwest::Client> {
    let files = crate::tls::TlsFiles {
        ca_file: &config.tls_ca_file,
        ..Default::default()
    };
    let tls = match crate::tls::client_config(files, crate::tls::Verify::Full) {
        Ok(tls) => tls,
        // No system trust store: http:// receivers still work; https:// ones fail to verify.
        Err(crate::tls::TlsError::NoSystemRoots) if config.tls_ca_file.is_empty() => {
            tracing::warn!("no system CA certificates: https:// webhooks cannot be verified");
            rustls::ClientConfig::builder_with_provider(crate::tls::provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        }
        Err(e) => return Err(anyhow::anyhow!("webhooks.tls_ca_file: {e}")),
    };
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(guard::GuardedResolver {
            allow_private: config.allow_private,
        }))
        .timeout(Duration::from_millis(config.timeout_ms))
        .user_agent(concat!("fleetd-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()?)
}

/// The delay before retry number `attempt` (1 for the first): doubling from `retry_min_ms`
/// up to `retry_max_ms`, of which the upper half is random ("equal jitter").
pub fn backoff(config: &WebhooksConfig, attempt: i32, rng: &mut impl Rng) -> Duration {
    let doublings = attempt.clamp(1, 40) as u32 - 1;
    let full = config
        .retry_min_ms
        .saturating_mul(1u64 << doublings.min(32))
        .min(config.retry_max_ms);
    let half = full / 2;
    Duration::from_millis(half + rng.gen_range(0..=full - half))
}

impl Deliverer {
    /// Delivers `chain` (the first pending events of `queue`, in id order) to `target` under
    /// `claim`, then gives the queue back. It stops early when the claim is lost or its
    /// lease could run out during the next attempt: another daemon may then take the queue,
    /// and two runs must never deliver one aggregate's events at once.
    pub async fn run(&self, target: &Target, queue: &Queue, claim: Claim, chain: Vec<Pending>) {
        let timeout = chrono::Duration::milliseconds(self.config.timeout_ms as i64);
        for p in chain {
            if self.clock.now() + timeout >= claim.until {
                break;
            }
            let outcome = self.attempt(target, &p).await;
            let now = self.clock.now();
            let (name, status, error) = match &outcome {
                Outcome::Delivered { status } => ("delivered", Some(*status), None),
                Outcome::Failed { status, error } => {
                    let deadline = p.queued_at
                        + chrono::Duration::hours(i64::from(self.config.max_retry_hours));
                    let name = if now >= deadline { "failed" } else { "retry" };
                    (name, *status, Some(error.clone()))
                }
            };
            let retry_at = (name == "retry").then(|| {
                let delay = backoff(&self.config, p.attempts + 1, &mut rand::thread_rng());
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero())
            });
            let label = match name {
                "failed" => "dead",
                other => other,
            };
            self.metrics
                .webhook_deliveries
                .get_or_create(&[("outcome", label)])
                .inc();
            let record = Record {
                outcome: name,
                status,
                error,
                at: now,
                retry_at,
            };
            match self.record(target.id, &p, record, claim.token).await {
                Ok(true) if name != "retry" => {}
                // Retried (the queue is due again later), or the claim was lost.
                Ok(_) => return,
                Err(e) => {
                    // Unrecorded: the lease runs out and the event goes again (at least once).
                    tracing::warn!(webhook = %target.id, event = p.event_id, error = %e,
                                   "recording a webhook delivery failed");
                    return;
                }
            }
        }
        if let Err(e) = self.release(target.id, queue, claim.token).await {
            tracing::warn!(webhook = %target.id, error = %e, "giving a webhook queue back failed");
        }
    }

    /// One POST of `p` to `target`.
    pub async fn attempt(&self, target: &Target, p: &Pending) -> Outcome {
        let failed = |status: Option<u16>, error: String| Outcome::Failed { status, error };
        let url = match guard::parse_url(&target.url) {
            Ok(url) => url,
            Err(e) => return failed(None, format!("url: {e}")),
        };
        if let Err(e) = guard::check_literal(&url, self.config.allow_private) {
            return failed(None, e);
        }
        let timestamp = self.clock.now().timestamp();
        let signature = sign::signature(&target.secret, timestamp, p.body.as_bytes());
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("fleetd-event-id", p.event_id.to_string())
            .header("fleetd-event-type", &p.event_type)
            .header("fleetd-timestamp", timestamp.to_string())
            .header("fleetd-signature", signature)
            .header("fleetd-delivery-attempt", (p.attempts + 1).to_string())
            .body(p.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Outcome::Delivered {
                status: r.status().as_u16(),
            },
            Ok(r) if r.status().is_redirection() => {
                let to = r
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("nowhere");
                failed(
                    Some(r.status().as_u16()),
                    clip(format!(
                        "HTTP {} to {to}: redirects are not followed",
                        r.status().as_u16()
                    )),
                )
            }
            Ok(r) => failed(
                Some(r.status().as_u16()),
                format!("HTTP {}", r.status().as_u16()),
            ),
            Err(e) => failed(None, clip(describe(&e))),
        }
    }

    /// Records an attempt; returns whether the claim still holds the queue.
    async fn record(
        &self,
        hook: Uuid,
        p: &Pending,
        r: Record,
        token: Uuid,
    ) -> anyhow::Result<bool> {
        let status = r.status.map(i32::from);
        Ok(self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT webhooks_record($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &hook,
                    &p.event_id,
                    &r.outcome,
                    &status,
                    &r.error,
                    &r.at,
                    &r.retry_at,
                    &token,
                ],
            )
            .await?
            .get(0))
    }

    async fn release(&self, hook: Uuid, queue: &Queue, token: Uuid) -> anyhow::Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "SELECT webhooks_release($1, $2, $3, $4, $5)",
                &[&hook, &token, &queue.0, &queue.1, &self.clock.now()],
            )
            .await?;
        Ok(())
    }
}

/// A transport error with its causes (reqwest's own text is only the outermost).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn clip(mut s: String) -> String {
    if s.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let config = WebhooksConfig {
            retry_min_ms: 1_000,
            retry_max_ms: 60_000,
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (attempt, full) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (7, 60_000),
            (500, 60_000),
        ] {
            for _ in 0..50 {
                let d = backoff(&config, attempt, &mut rng).as_millis() as u64;
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
            }
        }
        assert!(backoff(&config, i32::MIN, &mut rng) <= Duration::from_millis(1_000));
    }

    #[test]
    fn clips_on_a_char_boundary() {
        let s = clip("é".repeat(400));
        assert!(s.len() <= MAX_ERROR);
        assert!(s.chars().all(|c| c == 'é'));
    }
}
