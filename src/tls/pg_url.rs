//! `database.url`'s TLS settings, read as libpq reads them. tokio-postgres itself knows only
//! `sslmode=disable|prefer|require` and no certificate files, so the URL form's
//! `sslmode`, `sslrootcert`, `sslcert` and `sslkey` are taken out here and the rest is left
//! to tokio-postgres:
//!
//! | `sslmode`     | TLS                        | server certificate checked            |
//! |---------------|----------------------------|---------------------------------------|
//! | `disable`     | never                      | -                                     |
//! | `prefer` (default) | if the server offers it | only with `sslrootcert`: chain      |
//! | `require`     | always                     | only with `sslrootcert`: chain        |
//! | `verify-ca`   | always                     | chain to `sslrootcert`                |
//! | `verify-full` | always                     | chain to `sslrootcert`, and host name |
//!
//! Without `sslrootcert`, `verify-ca` and `verify-full` trust the system's CAs (libpq reads
//! `~/.postgresql/root.crt`); `sslrootcert=system` says so explicitly and, as in libpq 16,
//! needs `verify-full`. `allow` (plain first, TLS on refusal) is not supported. The
//! `key=value` form of connection strings takes `sslmode` up to `require` only.

use super::{TlsFiles, Verify};

/// `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS half of a `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of CAs; empty for the system's.
    pub root_cert: String,
    /// `sslcert` and `sslkey`: a client certificate, for servers that ask for one.
    pub cert: String,
    pub key: String,
}

impl PgTls {
    /// How much of the server's certificate to check.
    pub fn verify(&self) -> Verify {
        match self.mode {
            SslMode::VerifyFull => Verify::Full,
            SslMode::VerifyCa => Verify::Chain,
            _ if !self.root_cert.is_empty() => Verify::Chain,
            _ => Verify::Nothing,
        }
    }

    pub fn files(&self) -> TlsFiles<'_> {
        TlsFiles {
            ca_file: &self.root_cert,
            cert_file: &self.cert,
            key_file: &self.key,
        }
    }
}

/// Splits a connection string into tokio-postgres's configuration and the TLS settings.
/// The error is a reason, for `database.url: {reason}`.
pub fn split(url: &str) -> Result<(tokio_postgres::Config, PgTls), String> {
    let mut tls = PgTls {
        mode: SslMode::Prefer,
        root_cert: String::new(),
        cert: String::new(),
        key: String::new(),
    };
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let rest = if is_url {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = url::form_urlencoded::Serializer::new(String::new());
        let mut system_roots = false;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "sslmode" => tls.mode = mode(&value)?,
                "sslrootcert" if value == "system" => system_roots = true,
                "sslrootcert" => tls.root_cert = nonempty("sslrootcert", &value)?,
                "sslcert" => tls.cert = nonempty("sslcert", &value)?,
                "sslkey" => tls.key = nonempty("sslkey", &value)?,
                _ => {
                    kept.append_pair(&key, &value);
                }
            }
        }
        if system_roots && tls.mode != SslMode::VerifyFull {
            return Err("sslrootcert=system needs sslmode=verify-full".into());
        }
        if tls.cert.is_empty() != tls.key.is_empty() {
            return Err("sslcert and sslkey go together".into());
        }
        match kept.finish() {
            q if q.is_empty() => base.to_string(),
            q => format!("{base}?{q}"),
        }
    } else {
        url.to_string()
    };
    let mut config: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        // The detail ("unknown option `x`") is in the source.
        match std::error::Error::source(&e) {
            Some(detail) => format!("{e}: {detail}"),
            None => e.to_string(),
        }
    })?;
    if is_url {
        config.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
    } else {
        tls.mode = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => SslMode::Disable,
            tokio_postgres::config::SslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
    }
    Ok((config, tls))
}

fn mode(value: &str) -> Result<SslMode, String> {
    Ok(match value {
        "disable" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        "allow" => return Err("sslmode=allow is not supported; use prefer or stronger".into()),
        _ => {
            return Err(format!(
                "sslmode must be disable, prefer, require, verify-ca or verify-full, not {:?}",
                value.chars().take(40).collect::<String>()
            ))
        }
    })
}

fn nonempty(key: &str, value: &str) -> Result<String, String> {
    if value.is_empty() || value.contains('\0') {
        return Err(format!("{key} must be a file path"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> PgTls {
        split(url).unwrap().1
    }

    #[test]
    fn modes_map_to_verification_as_in_libpq() {
        let base = "postgres://u@h:5432/db";
        assert_eq!(tls(base).mode, SslMode::Prefer);
        assert_eq!(tls(base).verify(), Verify::Nothing);
        let require = tls(&format!("{base}?sslmode=require"));
        assert_eq!(require.verify(), Verify::Nothing);
        let require_ca = tls(&format!("{base}?sslmode=require&sslrootcert=/ca.pem"));
        assert_eq!(
            (require_ca.verify(), &*require_ca.root_cert),
            (Verify::Chain, "/ca.pem")
        );
        assert_eq!(
            tls(&format!("{base}?sslmode=verify-ca")).verify(),
            Verify::Chain
        );
        assert_eq!(
            tls(&format!("{base}?sslmode=verify-full")).verify(),
            Verify::Full
        );
        let system = tls(&format!("{base}?sslmode=verify-full&sslrootcert=system"));
        assert_eq!((system.verify(), &*system.root_cert), (Verify::Full, ""));
    }

    #[test]
    fn tokio_postgres_gets_the_rest_and_a_mode_it_knows() {
        let (config, t) = split(
            "postgresql://u:p@h:6432/db?application_name=x&sslmode=verify-full&sslcert=%2Fc.pem&sslkey=/k.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(config.get_application_name(), Some("x"));
        assert_eq!(
            config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        assert_eq!(config.get_dbname(), Some("db"));
        assert_eq!((&*t.cert, &*t.key), ("/c.pem", "/k.pem"));
        let (plain, t) = split("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(
            plain.get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        assert_eq!(t.mode, SslMode::Disable);
        // The key=value form keeps what tokio-postgres reads.
        let (kv, t) = split("host=h user=u sslmode=require").unwrap();
        assert_eq!(kv.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(t.verify(), Verify::Nothing);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let base = "postgres://u@h/db";
        for (query, needle) in [
            ("sslmode=allow", "not supported"),
            ("sslmode=VERIFY-FULL", "sslmode must be"),
            ("sslmode=", "sslmode must be"),
            (
                "sslmode=require&sslrootcert=system",
                "needs sslmode=verify-full",
            ),
            ("sslcert=/c.pem", "go together"),
            ("sslkey=/k.pem", "go together"),
            ("sslrootcert=", "file path"),
            ("sslrootcert=%00", "file path"),
            ("bogus=1", "unknown"),
        ] {
            let err = split(&format!("{base}?{query}")).unwrap_err();
            assert!(err.contains(needle), "{query}: {err}");
        }
        let long = format!("{base}?sslmode={}", "x".repeat(100_000));
        assert!(split(&long).unwrap_err().len() < 200);
        assert!(split("host=h sslmode=verify-full").is_err());
    }
}
