//! Plain sockets on loopback: ports with nothing behind them, listeners that never answer
//! or answer with a banner, and a minimal SMTP server to shape as a test needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A port on 127.0.0.1 with nothing listening: bound, then released.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A port free for both UDP and TCP on 127.0.0.1 (at the time of asking).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never sends a byte (the
/// connections are held open until the client hangs up or the test process ends). It
/// notes when each connection came and when its client hung up.
pub struct HungListener {
    pub port: u16,
    held: Arc<Mutex<Vec<Held>>>,
}

/// One connection to a `HungListener`: when it was accepted, and when the client closed it.
#[derive(Clone, Copy, Debug)]
pub struct Held {
    pub accepted: Instant,
    pub closed: Option<Instant>,
}

impl HungListener {
    pub fn start() -> HungListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held: Arc<Mutex<Vec<Held>>> = Arc::default();
        let log = held.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let log = log.clone();
                let i = {
                    let mut log = log.lock().expect("lock");
                    log.push(Held {
                        accepted: Instant::now(),
                        closed: None,
                    });
                    log.len() - 1
                };
                // Reads (and never answers) until the client hangs up.
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                    log.lock().expect("lock")[i].closed = Some(Instant::now());
                });
            }
        });
        HungListener { port, held }
    }

    /// The connections so far.
    pub fn connections(&self) -> Vec<Held> {
        self.held.lock().expect("lock").clone()
    }
}

/// The port of a server that accepts connections and never answers.
pub fn silent_server() -> u16 {
    HungListener::start().port
}

/// A TCP listener on 127.0.0.1 that greets every connection with `banner` and hangs up:
/// a server that does not speak TLS.
pub fn banner_listener(banner: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(banner.as_bytes());
        }
    });
    port
}

/// How a `SmtpServer` answers one command.
pub enum Smtp {
    /// These reply lines (each ending in CRLF).
    Say(String),
    /// 354, then the message up to the lone dot, counted, then 250.
    TakeData,
    /// 221, then the session ends.
    Quit,
}

/// A minimal SMTP server on 127.0.0.1 (no TLS): greets with 220, then answers each
/// command by a function of its verb (upper-cased); counts the messages it took.
pub struct SmtpServer {
    pub port: u16,
    received: Arc<AtomicU64>,
}

impl SmtpServer {
    pub fn start_on(port: u16, answer: impl Fn(&str) -> Smtp + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP server");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&received);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (count, answer) = (Arc::clone(&count), Arc::clone(&answer));
                std::thread::spawn(move || smtp_session(conn, &count, &*answer));
            }
        });
        SmtpServer { port, received }
    }

    /// An SMTP sink on `port` that accepts every message (no TLS, no AUTH).
    pub fn sink_on(port: u16) -> Self {
        SmtpServer::start_on(port, |verb| match verb {
            "EHLO" | "HELO" => Smtp::Say("250 sink\r\n".into()),
            "MAIL" | "RCPT" | "RSET" | "NOOP" => Smtp::Say("250 OK\r\n".into()),
            "DATA" => Smtp::TakeData,
            "QUIT" => Smtp::Quit,
            _ => Smtp::Say("502 not implemented\r\n".into()),
        })
    }

    /// Messages taken so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

fn smtp_session(conn: TcpStream, received: &AtomicU64, answer: &dyn Fn(&str) -> Smtp) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut w = conn;
    let say = |w: &mut TcpStream, text: &str| w.write_all(text.as_bytes()).is_ok();
    if !say(&mut w, "220 test ESMTP\r\n") {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match answer(&verb) {
            Smtp::Say(text) => text,
            Smtp::Quit => {
                say(&mut w, "221 bye\r\n");
                return;
            }
            Smtp::TakeData => {
                if !say(&mut w, "354 go ahead\r\n") {
                    return;
                }
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::SeqCst);
                "250 queued\r\n".to_string()
            }
        };
        if !say(&mut w, &reply) {
            return;
        }
    }
}
