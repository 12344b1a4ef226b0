//! How a node proves who it is to NATS, and checks that the servers are who they say: TLS for
//! `tls://` servers (their certificate checked against `jetstream.tls_ca_file`, or the
//! system's CAs; a client certificate from `jetstream.tls_cert_file` and `tls_key_file` for
//! servers that ask for one), and either a user and password or an NKey
//! (`jetstream.nkey_seed_file`).
//!
//! The files are read and checked when the daemon starts ([`Credentials::load`]), so a node
//! with an unusable one stops at once and names the setting, instead of retrying for ever.

use std::fmt;

use async_nats::ConnectOptions;

use crate::config::JetStreamConfig;
use crate::tls::{client_config, TlsError, Verify};

/// Why the NATS credentials could not be loaded; each names its setting, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("jetstream.tls_*: {0}")]
    Tls(#[from] TlsError),
    #[error("jetstream.nkey_seed_file: cannot read {path}: {reason}")]
    ReadSeed { path: String, reason: String },
    #[error("jetstream.nkey_seed_file: {path} does not hold an NKey seed")]
    NotASeed { path: String },
    #[error(
        "jetstream.nkey_seed_file: {path} holds an NKey seed, but not a user's (a user's seed \
         starts with SU)"
    )]
    NotAUserSeed { path: String },
}

/// What a NATS connection needs besides the servers' URLs.
#[derive(Clone)]
pub struct Credentials {
    tls: Option<rustls::ClientConfig>,
    user: Option<(String, String)>,
    /// A user's NKey seed: the private key, kept out of `Debug`.
    seed: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tls", &self.tls.is_some())
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .field("nkey", &self.seed.is_some())
            .finish()
    }
}

impl Credentials {
    /// Reads and checks every file `j` names.
    pub fn load(j: &JetStreamConfig) -> Result<Credentials, AuthError> {
        let tls = if j.tls() {
            Some(client_config(j.tls_files(), Verify::Full)?)
        } else {
            None
        };
        let user =
            (!j.username.is_empty()).then(|| (j.username.clone(), j.password.expose().to_string()));
        let seed = match j.nkey_seed_file.as_str() {
            "" => None,
            path => Some(read_seed(path)?),
        };
        Ok(Credentials { tls, user, seed })
    }

    /// `options` with TLS and the node's identity.
    pub fn apply(&self, mut options: ConnectOptions) -> ConnectOptions {
        if let Some(config) = &self.tls {
            options = options.require_tls(true).tls_client_config(config.clone());
        }
        if let Some((user, password)) = &self.user {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(seed) = &self.seed {
            options = options.nkey(seed.clone());
        }
        options
    }
}

/// The user seed in the file at `path`: one line, surrounding blanks ignored.
fn read_seed(path: &str) -> Result<String, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthError::ReadSeed {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let seed = text.trim().to_string();
    let pair = nkeys::KeyPair::from_seed(&seed).map_err(|_| AuthError::NotASeed {
        path: path.to_string(),
    })?;
    if !pair.public_key().starts_with('U') {
        return Err(AuthError::NotAUserSeed {
            path: path.to_string(),
        });
    }
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_file(content: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), content).unwrap();
        file
    }

    fn load_seed(path: &str) -> Result<Credentials, AuthError> {
        Credentials::load(&JetStreamConfig {
            nkey_seed_file: path.to_string(),
            ..JetStreamConfig::default()
        })
    }

    #[test]
    fn a_user_seed_is_read_with_its_blanks_trimmed_and_never_shown() {
        let user = nkeys::KeyPair::new_user();
        let seed = user.seed().unwrap();
        let file = seed_file(&format!("  {seed}\n\n"));
        let c = load_seed(file.path().to_str().unwrap()).unwrap();
        assert_eq!(c.seed.as_deref(), Some(seed.as_str()));
        assert!(!format!("{c:?}").contains(&seed));
    }

    #[test]
    fn unusable_seed_files_are_refused_naming_the_key_and_not_the_content() {
        let account = nkeys::KeyPair::new_account().seed().unwrap();
        let public = nkeys::KeyPair::new_user().public_key();
        let cases = [
            (seed_file(&account), "not a user's"),
            (seed_file(&public), "does not hold an NKey seed"),
            (seed_file("SUSECRETBUTBROKEN"), "does not hold an NKey seed"),
            (seed_file(""), "does not hold an NKey seed"),
            (
                seed_file(&"S".repeat(100_000)),
                "does not hold an NKey seed",
            ),
        ];
        for (file, why) in cases {
            let error = load_seed(file.path().to_str().unwrap())
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("jetstream.nkey_seed_file: "), "{error}");
            assert!(error.contains(why), "{why}: {error}");
            assert!(!error.contains("SECRET") && !error.contains(&account[..10]));
        }
        let error = load_seed("/nonexistent/fleetd.nk").unwrap_err().to_string();
        assert!(
            error.contains("cannot read /nonexistent/fleetd.nk"),
            "{error}"
        );
    }

    #[test]
    fn without_tls_or_identity_nothing_is_added() {
        let c = Credentials::load(&JetStreamConfig::default()).unwrap();
        assert!(c.tls.is_none() && c.user.is_none() && c.seed.is_none());
    }
}
