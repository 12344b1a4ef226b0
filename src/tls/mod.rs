//! TLS for fleetd's own connections: to the MQTT broker (`mqtts://`), to PostgreSQL
//! (`sslmode` in `database.url`, see [`pg_url`]) and to Redis (`rediss://`).
//!
//! Every connection uses rustls with the `ring` provider, built from PEM files named in the
//! configuration: a CA bundle to trust (the system's trust store when none is named) and,
//! optionally, a client certificate and its key for brokers and servers that ask for one.
//! `scripts/tls.sh` makes a local CA and certificates for a test or a private network.

pub mod mqtt;
pub mod pg_url;
mod verify;

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The PEM files of one connection; an empty string is "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsFiles<'a> {
    /// CA certificates to trust; empty: the system's trust store.
    pub ca_file: &'a str,
    /// A client certificate (chain) to present; needs `key_file`.
    pub cert_file: &'a str,
    /// The client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: &'a str,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// The chain up to a trusted CA, and the host name (or IP address) connected to.
    Full,
    /// The chain only (PostgreSQL's `sslmode=verify-ca`).
    Chain,
    /// Nothing: encryption without authentication (`sslmode=require` without a root
    /// certificate, as libpq does). Handshake signatures are still checked.
    Nothing,
}

/// Why a TLS configuration could not be built. Each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: cannot read {path}: {reason}")]
    Read {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{what}: {path} holds no PEM certificate")]
    NoCertificate { what: &'static str, path: String },
    #[error("the system trust store has no usable CA certificate; name a CA file instead")]
    NoSystemRoots,
    #[error("a client certificate needs its key file, and a key file its certificate")]
    HalfClientAuth,
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// The one crypto provider, ring. Also installed as the process default (for libraries
/// that build their own configuration, such as the Redis client), once.
///
/// rustls deprecates ring's provider because it lacks post-quantum key exchange (aws-lc-rs
/// has it); ring is kept because it builds with gcc alone, in seconds. The classical key
/// exchanges it offers (X25519, P-256, P-384) are what the brokers and servers here offer.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    let provider = rustls::crypto::ring::default_provider();
    // Err only when a provider is installed already, which is as good.
    let _ = CryptoProvider::install_default(provider.clone());
    Arc::new(provider)
}

/// A client configuration from `files`, checking the server's certificate as `verify` says.
pub fn client_config(files: TlsFiles<'_>, verify: Verify) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match verify {
        Verify::Full => builder.with_root_certificates(roots(files.ca_file)?),
        Verify::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(verify::chain_only(roots(files.ca_file)?, provider)?),
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::NoVerification(provider))),
    };
    Ok(match (files.cert_file, files.key_file) {
        ("", "") => builder.with_no_client_auth(),
        ("", _) | (_, "") => return Err(TlsError::HalfClientAuth),
        (cert, key) => builder
            .with_client_auth_cert(certificates("client certificate", cert)?, private_key(key)?)?,
    })
}

/// The CAs to trust: those in `ca_file`, or the system's.
pub fn roots(ca_file: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if ca_file.is_empty() {
        // Unreadable entries of the system store are skipped, as every TLS client does.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if roots.is_empty() {
            return Err(TlsError::NoSystemRoots);
        }
    } else {
        for cert in certificates("CA file", ca_file)? {
            roots.add(cert)?;
        }
    }
    Ok(roots)
}

/// Every certificate in a PEM file (at least one).
fn certificates(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |reason: String| TlsError::Read {
        what,
        path: path.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_string(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(Path::new(path)).map_err(|e| TlsError::Read {
        what: "client key",
        path: path.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(ca: &'a str, cert: &'a str, key: &'a str) -> TlsFiles<'a> {
        TlsFiles {
            ca_file: ca,
            cert_file: cert,
            key_file: key,
        }
    }

    #[test]
    fn unusable_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, b"\0\xffnot a certificate at all").unwrap();
        let garbage = garbage.to_str().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, b"").unwrap();
        let empty = empty.to_str().unwrap();

        let e = client_config(files("/nonexistent/ca.pem", "", ""), Verify::Full).unwrap_err();
        assert!(
            e.to_string()
                .contains("CA file: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
        for ca in [garbage, empty] {
            let e = client_config(files(ca, "", ""), Verify::Chain).unwrap_err();
            assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
            assert!(e.to_string().contains(ca), "{e}");
        }
        let e = client_config(files("", garbage, ""), Verify::Nothing).unwrap_err();
        assert!(matches!(e, TlsError::HalfClientAuth), "{e}");
        let e = client_config(files("", "", garbage), Verify::Nothing).unwrap_err();
        assert!(matches!(e, TlsError::HalfClientAuth), "{e}");
        let e =
            client_config(files("", "/nonexistent/c.pem", garbage), Verify::Nothing).unwrap_err();
        assert!(e.to_string().contains("client certificate"), "{e}");
    }

    #[test]
    fn the_system_trust_store_serves_when_no_ca_is_named() {
        // Debian's ca-certificates (scripts/services.sh installs it).
        let roots = roots("").unwrap();
        assert!(roots.len() > 10, "{}", roots.len());
        for verify in [Verify::Full, Verify::Chain, Verify::Nothing] {
            client_config(TlsFiles::default(), verify).unwrap();
        }
    }
}
