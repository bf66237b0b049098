//! dnsmasq serving a small zone on a free loopback port (Debian's dnsmasq-base, required).

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::free_port;

/// dnsmasq serving a small zone on 127.0.0.1 at a free port; killed when dropped.
///
/// example.test: MX 10 mx1.example.test, TXT "v=spf1 -all", NS ns1.example.test;
/// www.example.test: A 192.0.2.10 and 192.0.2.11, AAAA 2001:db8::10;
/// alias.example.test: CNAME www.example.test; any other name in example.test: NXDOMAIN.
pub struct Dnsmasq {
    pub port: u16,
    child: Child,
}

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

impl Dnsmasq {
    pub fn start() -> Dnsmasq {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: the dns tests need Debian's dnsmasq-base (run scripts/install-test-deps.sh)"
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(DNSMASQ)
                .args([
                    "--no-daemon".to_string(),
                    "--conf-file=/dev/null".to_string(),
                    format!("--port={port}"),
                    "--listen-address=127.0.0.1".to_string(),
                    "--bind-interfaces".to_string(),
                    "--no-resolv".to_string(),
                    "--no-hosts".to_string(),
                    "--pid-file=".to_string(),
                    "--local=/example.test/".to_string(),
                    "--host-record=www.example.test,192.0.2.10,2001:db8::10".to_string(),
                    "--host-record=www.example.test,192.0.2.11".to_string(),
                    "--txt-record=example.test,v=spf1 -all".to_string(),
                    "--mx-host=example.test,mx1.example.test,10".to_string(),
                    "--cname=alias.example.test,www.example.test".to_string(),
                    format!("--dns-rr=example.test,2,{}", wire_name("ns1.example.test")),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start dnsmasq");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Dnsmasq { port, child };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            last = err;
        }
        panic!("dnsmasq did not start: {last}");
    }

    /// The `server` value for a job.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A domain name in DNS wire format, as hex (for dnsmasq's `--dns-rr`).
fn wire_name(name: &str) -> String {
    let mut hex = String::new();
    for label in name.split('.') {
        hex.push_str(&format!("{:02x}", label.len()));
        for b in label.bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
    }
    hex.push_str("00");
    hex
}
