//! The local syslog: where checker's own errors go when no log file can be written and
//! no channel is known (an unreadable settings file). One RFC 3164 datagram per line to
//! `/dev/log`; `CHECKER_SYSLOG_SOCKET` names another socket, for tests.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone};

/// Names the socket to send to instead of `/dev/log`. For tests.
pub const SOCKET_ENV: &str = "CHECKER_SYSLOG_SOCKET";
const DEFAULT_SOCKET: &str = "/dev/log";
/// RFC 3164 §4.1: a packet is at most 1024 bytes.
const MAX_PACKET: usize = 1024;
/// Facility `user` (1), severity `err` (3): PRI = 1 × 8 + 3.
const PRI_USER_ERR: u8 = 11;

/// Sends `message` to the local syslog as errors of `checker`, one datagram per
/// non-empty line.
pub fn error(message: &str) -> std::io::Result<()> {
    let socket = std::env::var_os(SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let sock = UnixDatagram::unbound()?;
    let host = hostname();
    let pid = std::process::id();
    let now = chrono::Local::now();
    for line in message.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let packet = format(PRI_USER_ERR, &now, &host, pid, line);
        sock.send_to(packet.as_bytes(), &socket)?;
    }
    Ok(())
}

/// `<11>Mar  1 02:14:09 web1 checker[1234]: message`: PRI, the local time without a
/// year, the host, the tag with the process id, and the message with control characters
/// made spaces, cut to 1024 bytes in all.
pub fn format<Tz: TimeZone>(pri: u8, ts: &DateTime<Tz>, host: &str, pid: u32, msg: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let msg: String = msg
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut packet = format!(
        "<{pri}>{} {host} checker[{pid}]: {msg}",
        ts.format("%b %e %H:%M:%S")
    );
    if packet.len() > MAX_PACKET {
        let mut end = MAX_PACKET;
        while !packet.is_char_boundary(end) {
            end -= 1;
        }
        packet.truncate(end);
    }
    packet
}

fn hostname() -> String {
    ::hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_host_is_the_machines_name_up_to_its_first_dot() {
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let short = node.trim().split('.').next().unwrap_or("");
        let expected = if short.is_empty() { "localhost" } else { short };
        assert_eq!(hostname(), expected);
    }

    #[test]
    fn a_line_is_framed_as_rfc_3164_with_a_space_padded_day_and_no_year() {
        let ts = Utc.with_ymd_and_hms(2026, 3, 1, 2, 14, 9).unwrap();
        assert_eq!(
            format(11, &ts, "web1", 1234, "settings: cannot read\tit"),
            "<11>Mar  1 02:14:09 web1 checker[1234]: settings: cannot read it"
        );
        let ts = Utc.with_ymd_and_hms(2026, 11, 23, 23, 0, 0).unwrap();
        assert!(format(11, &ts, "h", 1, "x").starts_with("<11>Nov 23 23:00:00 h "));
    }

    #[test]
    fn a_long_line_is_cut_to_1024_bytes_on_a_character_boundary() {
        let ts = Utc.with_ymd_and_hms(2026, 3, 1, 2, 14, 9).unwrap();
        let packet = format(11, &ts, "web1", 1, &"é".repeat(2000));
        assert!(packet.len() <= MAX_PACKET && packet.len() >= MAX_PACKET - 1);
        assert!(packet.ends_with('é'));
    }
}
