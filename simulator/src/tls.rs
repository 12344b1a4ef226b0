//! TLS to the broker: `--mqtt-ca-file`, `--mqtt-cert-file` and `--mqtt-key-file` for an
//! `mqtts://` `--mqtt-url`, made into a rumqttc transport by fleetd's own
//! `fleetd::tls::mqtt::transport` (rustls with ring; the broker's certificate chain and name
//! are checked). PostgreSQL URLs take libpq's `sslmode=verify-full&sslrootcert=...` through
//! `fleetd::db::PgTarget` instead.

use std::path::{Path, PathBuf};

use clap::Args;
use rumqttc::Transport;

use crate::config::MqttTarget;

/// The certificate files of an `mqtts://` broker connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct MqttTlsArgs {
    /// CA certificates (PEM) to check an mqtts:// broker's certificate against (default:
    /// the system's trust store).
    #[arg(long, value_name = "PATH")]
    pub mqtt_ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present to an mqtts:// broker; needs --mqtt-key-file.
    #[arg(long, value_name = "PATH", requires = "mqtt_key_file")]
    pub mqtt_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs --mqtt-cert-file.
    #[arg(long, value_name = "PATH", requires = "mqtt_cert_file")]
    pub mqtt_key_file: Option<PathBuf>,
}

impl MqttTlsArgs {
    fn any(&self) -> bool {
        self.mqtt_ca_file.is_some() || self.mqtt_cert_file.is_some() || self.mqtt_key_file.is_some()
    }

    /// The transport to `target`: TCP for `mqtt://`, TLS for `mqtts://` with these files,
    /// each read now (a missing or unusable file is named). Built once per run; connections
    /// clone it.
    pub fn transport(&self, target: &MqttTarget) -> Result<Transport, String> {
        if !target.tls {
            if self.any() {
                return Err(
                    "--mqtt-ca-file, --mqtt-cert-file and --mqtt-key-file need an mqtts:// --mqtt-url"
                        .into(),
                );
            }
            return Ok(Transport::Tcp);
        }
        let text = |flag: &str, p: &Option<PathBuf>| -> Result<String, String> {
            match p.as_deref().map(Path::to_str) {
                None => Ok(String::new()),
                Some(Some("")) => Err(format!("{flag}: empty path")),
                Some(Some(s)) => Ok(s.to_string()),
                Some(None) => Err(format!("{flag}: the path is not UTF-8")),
            }
        };
        let ca = text("--mqtt-ca-file", &self.mqtt_ca_file)?;
        let cert = text("--mqtt-cert-file", &self.mqtt_cert_file)?;
        let key = text("--mqtt-key-file", &self.mqtt_key_file)?;
        let files = fleetd::tls::TlsFiles {
            ca_file: &ca,
            cert_file: &cert,
            key_file: &key,
        };
        fleetd::tls::mqtt::transport(true, files)
            .map_err(|e| format!("TLS to {}:{}: {e}", target.host, target.port))
    }
}
