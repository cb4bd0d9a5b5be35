//! The audit trail's secondary sinks: the local syslog daemon and a hook command. The chained
//! file is the record of truth; these copy its lines to where operators already look.
//!
//! Both run inside the host application's process, so neither may raise a signal in it, change
//! its signal dispositions or block its writer thread forever.

use std::fmt;
use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Where audit lines go besides the chained file.
pub trait Sink: Send {
    /// A short name for logs ("syslog", "hook").
    fn name(&self) -> &'static str;
    /// Delivers `lines` (one or more complete JSON lines, each ending in '\n'). Ok only when
    /// every line was accepted; on Err the caller keeps the lines and calls again later with the
    /// same lines (so a sink must tolerate re-delivery of a batch it partly accepted).
    fn deliver(&mut self, lines: &[u8]) -> std::io::Result<()>;
    /// Releases what the sink holds (closes sockets, ends the hook process after closing its
    /// stdin and waiting up to `grace`). Called once by the writer when it stops.
    fn close(&mut self, grace: std::time::Duration);
}

/// One `send(2)` that can never raise SIGPIPE in the host, whatever its disposition: the host
/// may not ignore SIGPIPE, and a dead reader must cost an error, not the process.
fn send_nosignal(sock: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a live, initialised slice for the whole call and the kernel reads at
        // most `buf.len()` bytes from it; the descriptor is borrowed from an open socket that
        // outlives the call.
        let n = unsafe { libc::send(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            ErrorKind::Interrupted => continue,
            // SO_SNDTIMEO expiring shows as EAGAIN; callers need to tell it from other failures.
            ErrorKind::WouldBlock => {
                return Err(io::Error::new(ErrorKind::TimedOut, "no progress within the send timeout"));
            }
            _ => return Err(e),
        }
    }
}

/// A syslog facility, named as in syslog.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Facility {
    User,
    Auth,
    Authpriv,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    pub const ALL: [Facility; 11] = [
        Facility::User,
        Facility::Auth,
        Facility::Authpriv,
        Facility::Local0,
        Facility::Local1,
        Facility::Local2,
        Facility::Local3,
        Facility::Local4,
        Facility::Local5,
        Facility::Local6,
        Facility::Local7,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Facility::User => "user",
            Facility::Auth => "auth",
            Facility::Authpriv => "authpriv",
            Facility::Local0 => "local0",
            Facility::Local1 => "local1",
            Facility::Local2 => "local2",
            Facility::Local3 => "local3",
            Facility::Local4 => "local4",
            Facility::Local5 => "local5",
            Facility::Local6 => "local6",
            Facility::Local7 => "local7",
        }
    }

    /// The facility number of RFC 3164 §4.1.1 (PRI = code × 8 + severity).
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A facility name that is not one of [`Facility::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown syslog facility {0:?} (expected user, auth, authpriv or local0 to local7)")]
pub struct UnknownFacility(pub String);

impl FromStr for Facility {
    type Err = UnknownFacility;

    fn from_str(s: &str) -> Result<Facility, UnknownFacility> {
        Facility::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| UnknownFacility(s.to_string()))
    }
}

// By hand rather than derived so that a config file and `FromStr` accept exactly the same names
// and refuse with the same message.
impl<'de> serde::Deserialize<'de> for Facility {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Facility, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

const SEVERITY_WARNING: u8 = 4;
const SEVERITY_INFO: u8 = 6;
/// What marks a record of a successful call (serde_json writes no spaces).
const RESULT_OK: &[u8] = br#""result":"CKR_OK""#;

/// A syslog daemon that stops reading (or a full journal) must not hold the writer forever; the
/// daemon answers in microseconds when it is alive.
const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends each audit line as one datagram to the local syslog socket, in the RFC 3164 local
/// format `<PRI>TAG[PID]: MESSAGE`.
pub struct SyslogSink {
    socket: PathBuf,
    facility: Facility,
    tag: String,
    conn: Option<UnixDatagram>,
    /// The leading lines of the last failed batch that did reach syslog: the writer re-delivers
    /// the whole batch, and syslog readers count events, so these are not sent twice.
    sent_of_failed: Vec<u8>,
}

impl SyslogSink {
    /// Connects lazily (on the first [`Sink::deliver`]): the daemon may start after the library,
    /// and a missing socket is then a delivery failure the writer retries, not a setup failure.
    pub fn new(socket: PathBuf, facility: Facility, tag: String) -> SyslogSink {
        // Syslog parsers end the tag at the first space, colon or bracket; such a character in a
        // configured tag would move the start of the message.
        let ends_tag = |c: char| c.is_whitespace() || c.is_control() || matches!(c, ':' | '[' | ']');
        let tag = tag.chars().map(|c| if ends_tag(c) { '_' } else { c }).collect();
        SyslogSink { socket, facility, tag, conn: None, sent_of_failed: Vec::new() }
    }

    fn format(&self, message: &[u8], out: &mut Vec<u8>) {
        // A substring test cannot be fooled by a string value: quotes inside one are escaped.
        let ok = message.windows(RESULT_OK.len()).any(|w| w == RESULT_OK);
        let severity = if ok { SEVERITY_INFO } else { SEVERITY_WARNING };
        let pri = u16::from(self.facility.code()) * 8 + u16::from(severity);
        out.clear();
        // The PID is read per message because a forked host child keeps the sink's memory.
        out.extend_from_slice(format!("<{pri}>{}[{}]: ", self.tag, std::process::id()).as_bytes());
        out.extend_from_slice(message);
    }

    fn connect(&mut self) -> io::Result<&UnixDatagram> {
        let sock = UnixDatagram::unbound()?;
        sock.connect(&self.socket)?;
        sock.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT))?;
        Ok(self.conn.insert(sock))
    }

    /// Sends one datagram, reconnecting once after a failure: a restarted daemon leaves the old
    /// connection refusing everything.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if let Some(conn) = &self.conn {
            match send_datagram(conn, datagram) {
                Ok(()) => return Ok(()),
                // Too large is a property of the message, not of the connection.
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => return Err(e),
                Err(e) => {
                    log::warn!(
                        "audit syslog: sending to {} failed ({e}); reconnecting",
                        self.socket.display()
                    );
                    self.conn = None;
                }
            }
        }
        let result = send_datagram(self.connect()?, datagram);
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

fn send_datagram(sock: &UnixDatagram, datagram: &[u8]) -> io::Result<()> {
    let n = send_nosignal(sock, datagram)?;
    if n != datagram.len() {
        // Datagrams are sent whole or not at all; a short count would mean a cut record.
        return Err(io::Error::new(ErrorKind::WriteZero, "syslog datagram sent only in part"));
    }
    Ok(())
}

impl Sink for SyslogSink {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn deliver(&mut self, lines: &[u8]) -> io::Result<()> {
        let skip = if !self.sent_of_failed.is_empty() && lines.starts_with(&self.sent_of_failed) {
            self.sent_of_failed.len()
        } else {
            0
        };
        self.sent_of_failed.clear();
        let mut done = skip;
        let mut datagram = Vec::new();
        for line in lines[skip..].split_inclusive(|&b| b == b'\n') {
            let message = line.strip_suffix(b"\n").unwrap_or(line);
            if !message.is_empty() {
                self.format(message, &mut datagram);
                if let Err(e) = self.send(&datagram) {
                    self.sent_of_failed.extend_from_slice(&lines[..done]);
                    return Err(e);
                }
            }
            done += line.len();
        }
        Ok(())
    }

    fn close(&mut self, _grace: Duration) {
        self.conn = None;
        self.sent_of_failed = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const OK_LINE: &str = r#"{"seq":1,"op":"C_Sign","result":"CKR_OK"}"#;
    const FAILED_LINE: &str = r#"{"seq":2,"op":"C_Sign","result":"CKR_KEY_HANDLE_INVALID"}"#;

    fn receiver(path: &Path) -> UnixDatagram {
        let rx = UnixDatagram::bind(path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        rx
    }

    fn recv(rx: &UnixDatagram) -> String {
        let mut buf = vec![0; 1 << 20];
        let n = rx.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn nothing_waiting(rx: &UnixDatagram) -> bool {
        rx.set_nonblocking(true).unwrap();
        let r = rx.recv(&mut [0; 16]);
        rx.set_nonblocking(false).unwrap();
        matches!(r, Err(e) if e.kind() == ErrorKind::WouldBlock)
    }

    #[test]
    fn syslog_sends_each_line_as_one_datagram_with_its_priority() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rx = receiver(&path);
        let pid = std::process::id();

        let mut sink = SyslogSink::new(path.clone(), Facility::Local3, "kms-pkcs11".into());
        sink.deliver(format!("{OK_LINE}\n{FAILED_LINE}\n").as_bytes()).unwrap();
        // local3 = 19: 19 × 8 + 6 (info) and + 4 (warning).
        assert_eq!(recv(&rx), format!("<158>kms-pkcs11[{pid}]: {OK_LINE}"));
        assert_eq!(recv(&rx), format!("<156>kms-pkcs11[{pid}]: {FAILED_LINE}"));
        sink.close(Duration::ZERO);

        let mut sink = SyslogSink::new(path.clone(), Facility::User, "audit".into());
        sink.deliver(format!("{OK_LINE}\n").as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<14>audit[{pid}]: {OK_LINE}"));
        let mut sink = SyslogSink::new(path, Facility::Authpriv, "a b:c[d]".into());
        sink.deliver(format!("{FAILED_LINE}\n").as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<84>a_b_c_d_[{pid}]: {FAILED_LINE}"));
        assert!(nothing_waiting(&rx));
    }

    #[test]
    fn syslog_without_a_socket_fails_delivery_not_construction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut sink = SyslogSink::new(path.clone(), Facility::Auth, "t".into());
        assert!(sink.deliver(format!("{OK_LINE}\n").as_bytes()).is_err());
        // The daemon comes up later: the same sink reaches it.
        let rx = receiver(&path);
        sink.deliver(format!("{OK_LINE}\n").as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<38>t[{}]: {OK_LINE}", std::process::id()));
    }

    #[test]
    fn syslog_reconnects_to_a_restarted_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rx = receiver(&path);
        let mut sink = SyslogSink::new(path.clone(), Facility::Local0, "t".into());
        sink.deliver(format!("{OK_LINE}\n").as_bytes()).unwrap();
        recv(&rx);
        drop(rx);
        std::fs::remove_file(&path).unwrap();
        let rx = receiver(&path);
        sink.deliver(format!("{FAILED_LINE}\n").as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<132>t[{}]: {FAILED_LINE}", std::process::id()));
    }

    fn set_sndbuf(sock: &UnixDatagram, bytes: libc::c_int) {
        // SAFETY: the option value is a live c_int whose size is passed with it; the descriptor
        // is the sink's open socket.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
    }

    #[test]
    fn syslog_refuses_a_record_too_large_and_does_not_resend_what_went_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rx = receiver(&path);
        let pid = std::process::id();
        let mut sink = SyslogSink::new(path, Facility::Local0, "t".into());

        let huge = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(1 << 20));
        let err = sink.deliver(huge.as_bytes()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE));
        assert!(nothing_waiting(&rx), "no truncated record");

        // A batch that fails after its first line: the retry of that batch sends only the rest.
        sink.deliver(format!("{OK_LINE}\n").as_bytes()).unwrap();
        recv(&rx);
        set_sndbuf(sink.conn.as_ref().unwrap(), 1); // the kernel's minimum, a few KiB
        let big = format!("{{\"pad\":\"{}\",\"result\":\"CKR_OK\"}}", "y".repeat(10_000));
        let batch = format!("{FAILED_LINE}\n{big}\n");
        let err = sink.deliver(batch.as_bytes()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE));
        assert_eq!(recv(&rx), format!("<132>t[{pid}]: {FAILED_LINE}"));
        set_sndbuf(sink.conn.as_ref().unwrap(), 1 << 16);
        sink.deliver(batch.as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<134>t[{pid}]: {big}"));
        assert!(nothing_waiting(&rx));
        // A different batch after the failed one is sent whole.
        sink.deliver(format!("{FAILED_LINE}\n").as_bytes()).unwrap();
        assert_eq!(recv(&rx), format!("<132>t[{pid}]: {FAILED_LINE}"));
    }

    #[test]
    fn facility_names_parse_and_deserialize() {
        for f in Facility::ALL {
            assert_eq!(f.name().parse::<Facility>(), Ok(f));
        }
        assert_eq!("local7".parse::<Facility>().unwrap().code(), 23);
        assert_eq!("authpriv".parse::<Facility>().unwrap().code(), 10);
        for bad in ["local9", "LOCAL0", "", "kern", "local"] {
            assert_eq!(bad.parse::<Facility>(), Err(UnknownFacility(bad.into())));
        }

        #[derive(serde::Deserialize)]
        struct Config {
            facility: Facility,
        }
        let c: Config = toml::from_str("facility = \"local3\"").unwrap();
        assert_eq!(c.facility, Facility::Local3);
        let e = toml::from_str::<Config>("facility = \"local9\"").err().unwrap();
        assert!(e.to_string().contains("unknown syslog facility \"local9\""), "{e}");
    }
}
