//! The MQTT transport: plain TCP for `mqtt://`, TLS for `mqtts://`.

use std::sync::Arc;

use rumqttc::{TlsConfiguration, Transport};

use super::{client_config, TlsError, TlsFiles, Verify};

/// TCP, or TLS checking the broker's certificate chain and name against `files.ca_file`
/// (the system's CAs when empty), presenting a client certificate if `files` has one.
pub fn transport(tls: bool, files: TlsFiles<'_>) -> Result<Transport, TlsError> {
    if !tls {
        return Ok(Transport::Tcp);
    }
    let config = client_config(files, Verify::Full)?;
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )))
}
