//! TLS for tests: certificates from `scripts/tls.sh`, a private Redis speaking only TLS, and
//! the CA that `scripts/services.sh` gave the shared PostgreSQL server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{free_port, wait_port};

/// A CA with server and client certificates of its own, in a temporary folder.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Runs `scripts/tls.sh` into a new folder. Keys are made readable by everyone (the
    /// brokers under test drop root for their own user); the script's own are mode 600.
    pub fn new() -> Certs {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tls.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("bash must be installed");
        assert!(
            out.status.success(),
            "scripts/tls.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Certs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the folder (`ca.crt`, `client.key`, ...), as a string for the config.
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// The CA that signed the test PostgreSQL server's certificate, for `sslmode=verify-full`:
/// `scripts/services.sh` (`ensure_postgres_tls`) keeps it beside the certificate.
pub async fn database_ca() -> String {
    let admin = super::connect(&super::admin_url()).await;
    let cert: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let ca = Path::new(&cert).with_file_name("ca.crt");
    assert!(
        ca.exists(),
        "{} is missing: the server's certificate ({cert}) is not one scripts/services.sh \
         installed; run it",
        ca.display()
    );
    ca.display().to_string()
}

/// A Redis of its own that speaks only TLS, with `certs`' server certificate; client
/// certificates optional.
pub struct TlsRedis {
    pub port: u16,
    child: Child,
}

impl TlsRedis {
    pub fn start(certs: &Certs) -> TlsRedis {
        let port = free_port();
        let child = Command::new(redis_server())
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--tls-cert-file", &certs.file("server.crt")])
            .args(["--tls-key-file", &certs.file("server.key")])
            .args(["--tls-ca-cert-file", &certs.file("ca.crt")])
            .args(["--tls-auth-clients", "optional"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh)");
        wait_port(port);
        TlsRedis { port, child }
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_server() -> PathBuf {
    [
        "/usr/bin/redis-server",
        "/usr/sbin/redis-server",
        "/usr/local/bin/redis-server",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| "redis-server".into())
}
