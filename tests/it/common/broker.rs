//! Private Mosquitto brokers: anonymous, secured with the dynamic-security plugin, or
//! secured and speaking only TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, signal, wait_port};

pub fn mosquitto_bin() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    "mosquitto".into()
}

/// The dynamic-security administrator of a [`Broker::start_secured`] broker.
pub const BROKER_ADMIN: (&str, &str) = ("fleetd-admin", "broker-admin-password");

/// Where Debian (and the eclipse-mosquitto image) put the dynamic-security plugin.
fn dynsec_plugin() -> PathBuf {
    [
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("mosquitto_dynamic_security.so not found (scripts/services.sh installs mosquitto)")
}

/// A private Mosquitto with the zero-loss settings of config/mosquitto.conf and persistence,
/// so it can be restarted without losing queued messages. Anonymous unless secured.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    secured: bool,
    /// TLS only: the certificates' folder (scripts/tls.sh) and whether a client certificate
    /// is required.
    tls: Option<(PathBuf, bool)>,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_as(false)
    }

    /// Anonymous clients refused; accounts in the dynamic-security plugin, administered by
    /// [`BROKER_ADMIN`] (created with `mosquitto_ctrl dynsec init`, as services.sh does).
    pub fn start_secured() -> Broker {
        Broker::start_as(true)
    }

    /// Secured, and its only listener speaks TLS with `certs`' server certificate
    /// ([`super::tls::Certs`]); with `require_client_cert`, a client must present a
    /// certificate signed by `certs`' CA.
    pub fn start_tls(certs: &Path, require_client_cert: bool) -> Broker {
        let mut b = Broker::start_as(true);
        b.stop_quietly();
        b.tls = Some((certs.to_path_buf(), require_client_cert));
        b.spawn();
        b
    }

    fn start_as(secured: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        // Mosquitto started as root drops to its own user, which must write persistence here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        if secured {
            let file = dir.path().join("dynamic-security.json");
            let status = Command::new("mosquitto_ctrl")
                .args(["dynsec", "init"])
                .arg(&file)
                .args([BROKER_ADMIN.0, BROKER_ADMIN.1])
                .stdout(Stdio::null())
                .status()
                .expect("mosquitto_ctrl must be installed (scripts/services.sh)");
            assert!(status.success(), "mosquitto_ctrl dynsec init failed");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let mut b = Broker {
            port: free_port(),
            dir,
            child: None,
            secured,
            tls: None,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let auth = if self.secured {
            format!(
                "allow_anonymous false\nplugin {}\nplugin_opt_config_file {}\n",
                dynsec_plugin().display(),
                self.dir.path().join("dynamic-security.json").display()
            )
        } else {
            "allow_anonymous true\n".to_string()
        };
        let tls = match &self.tls {
            None => String::new(),
            Some((certs, require)) => format!(
                "cafile {0}/ca.crt\ncertfile {0}/server.crt\nkeyfile {0}/server.key\n\
                 require_certificate {require}\n",
                certs.display()
            ),
        };
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\n{tls}{auth}persistence true\n\
                 persistence_location {}/\nautosave_interval 1\n{}\
                 max_inflight_messages 1000\nmax_packet_size 1048576\nsys_interval 1\n\
                 log_dest stderr\nlog_type error\n",
                self.port,
                self.dir.path().display(),
                super::shipped::broker_lines(),
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mosquitto must be installed (scripts/services.sh)");
        self.child = Some(child);
        wait_port(self.port);
    }

    pub fn url(&self) -> String {
        match self.tls {
            None => format!("mqtt://127.0.0.1:{}", self.port),
            Some(_) => format!("mqtts://127.0.0.1:{}", self.port),
        }
    }

    fn stop_quietly(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn is_secured(&self) -> bool {
        self.secured
    }

    /// Graceful restart: SIGTERM (mosquitto saves its persistence file), then start again.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// A broker that forgot everything: stopped, its persistence file deleted, started again
    /// (as after a crash before its first save, or a restart without persistence).
    pub fn restart_empty(&mut self) {
        self.stop();
        std::fs::remove_file(self.dir.path().join("mosquitto.db")).unwrap();
        self.spawn();
    }

    /// Graceful stop; asserts the broker really saved its persistence file, so restart
    /// tests cannot pass vacuously.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let _ = c.wait();
            assert!(
                self.dir.path().join("mosquitto.db").exists(),
                "mosquitto did not write its persistence file"
            );
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
