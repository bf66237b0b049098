//! Debian's real Prometheus Alertmanager (`prometheus-alertmanager`, installed by
//! scripts/install-test-deps.sh), run on loopback for one test: its own config and data
//! folder, the web and cluster ports both on 127.0.0.1, killed when dropped. Its v2 API
//! is read back as the test's proof of what checker posted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http;
use super::net::free_port;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// A running Alertmanager.
pub struct Alertmanager {
    child: Child,
    pub port: u16,
}

impl Alertmanager {
    /// Starts one with its files under `dir` and waits until `/-/ready` answers 200;
    /// fails the test loudly when it cannot.
    pub fn start(dir: &Path) -> Alertmanager {
        Alertmanager::start_on(dir, free_port())
    }

    /// The same on web port `port` (one that was in use before: back where it was).
    pub fn start_on(dir: &Path, port: u16) -> Alertmanager {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: run scripts/install-test-deps.sh (package prometheus-alertmanager)"
        );
        let config = dir.join("am.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .expect("write am.yml");
        let data = dir.join("am-data");
        std::fs::create_dir_all(&data).expect("am data dir");
        let cluster = free_port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus-alertmanager");
        let mut am = Alertmanager { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = am.child.try_wait() {
                panic!("prometheus-alertmanager exited at start: {status}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && am.get("/-/ready").0 == 200
            {
                return am;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus-alertmanager not ready on port {port} within 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One GET as HTTP/1.0 (a whole body, never chunked): status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http::raw(
            self.port,
            format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
        )
    }

    /// `GET /api/v2/alerts`: the alerts it holds that have not ended.
    pub fn alerts(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v2/alerts");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        match serde_json::from_str(&body) {
            Ok(Value::Array(a)) => a,
            other => panic!("GET /api/v2/alerts is not a JSON array: {other:?}: {body}"),
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
