//! The audit trail's secondary sinks: the local syslog daemon and a hook command. The chained
//! file is the record of truth; these copy its lines to where operators already look.
//!
//! Both run inside the host application's process, so neither may raise a signal in it, change
//! its signal dispositions or block its writer thread forever.

use std::fmt;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

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
fn send_nosignal(sock: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::net::send(sock, buf, rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            // SO_SNDTIMEO expiring shows as EAGAIN; callers need to tell it from other failures.
            Err(rustix::io::Errno::AGAIN) => {
                return Err(io::Error::new(ErrorKind::TimedOut, "no progress within the send timeout"));
            }
            Err(e) => return Err(e.into()),
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

/// A running hook: the child and our end of its standard input.
struct Hook {
    child: Child,
    input: UnixStream,
}

/// Writes every audit line to the standard input of a command run by `/bin/sh -c`.
///
/// `Ok` means the lines entered the hook's input stream, not that the hook handled them: lines
/// still buffered when a hook dies are lost to it (the chained file still has them).
pub struct HookSink {
    command: String,
    timeout: Duration,
    hook: Option<Hook>,
    started_once: bool,
}

impl HookSink {
    /// Starts nothing yet: the hook runs from the first [`Sink::deliver`], so a library that is
    /// loaded but never audits spawns no process.
    pub fn new(command: String, timeout: Duration) -> HookSink {
        HookSink { command, timeout, hook: None, started_once: false }
    }

    fn start(&mut self) -> io::Result<&mut Hook> {
        if self.started_once {
            log::warn!("audit hook: starting it again");
        }
        self.started_once = true;
        // A socket rather than a pipe: only `send` takes MSG_NOSIGNAL, and a write to a pipe
        // whose reader died raises SIGPIPE in the host. Both ends are close-on-exec, so no other
        // child of the host inherits them.
        let (ours, theirs) = UnixStream::pair()?;
        // A zero timeout would mean "block forever" to the kernel (and std refuses it).
        ours.set_write_timeout(Some(self.timeout.max(Duration::from_millis(1))))?;
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that ending the hook also ends what `sh -c` started
            // (a pipeline, a shell that did not exec its last command).
            .process_group(0)
            .spawn()
            .inspect_err(|e| log::warn!("audit hook: cannot start /bin/sh: {e}"))?;
        // The Command, and with it our copy of the child's end, is gone by now: the child must
        // hold the only one, or its death would never show as a failed write.
        Ok(self.hook.insert(Hook { child, input: ours }))
    }
}

/// How long a killed hook may take to die. SIGKILL acts at once except on a process stuck in
/// the kernel (a dead NFS server) or one we may not signal (a setuid program it exec'd); waiting
/// for those without end would hang the host in C_Finalize.
const KILL_WAIT: Duration = Duration::from_secs(1);

/// Waits up to `limit` for the child to end and reaps it; false if it still runs.
fn reap_within(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            // ECHILD: the host reaped it (a SIGCHLD handler waiting for any child, or SIGCHLD
            // ignored); the pid may already be someone else's, so it must not be signalled.
            Err(_) => return true,
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Ends a hook: EOF on its input, up to `grace` to finish, then SIGKILL to its process group,
/// and a wait so that no zombie is left.
fn stop(mut hook: Hook, grace: Duration) {
    let _ = hook.input.shutdown(std::net::Shutdown::Both);
    drop(hook.input);
    if reap_within(&mut hook.child, grace) {
        return;
    }
    let pid = hook.child.id();
    // The child is not reaped yet (try_wait said it runs), so its pid, which is also the id of
    // the group it leads, still names our child's group.
    let group = rustix::process::Pid::from_raw(pid as i32);
    if group.is_none_or(|g| rustix::process::kill_process_group(g, rustix::process::Signal::KILL).is_err()) {
        let _ = hook.child.kill();
    }
    if !reap_within(&mut hook.child, KILL_WAIT) {
        log::error!("audit hook (pid {pid}) survived SIGKILL for {KILL_WAIT:?}; left unreaped");
    }
}

impl Sink for HookSink {
    fn name(&self) -> &'static str {
        "hook"
    }

    fn deliver(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let hook = match self.hook.take() {
            None => self.start()?,
            Some(mut hook) => {
                let gone = match hook.child.try_wait() {
                    Ok(None) => None,
                    Ok(Some(status)) => Some(format!("exited ({status})")),
                    Err(e) => Some(format!("cannot be waited for ({e})")),
                };
                if let Some(why) = gone {
                    let pid = hook.child.id();
                    stop(hook, Duration::ZERO);
                    log::warn!("audit hook (pid {pid}) {why}; it will be started again");
                    return Err(io::Error::new(ErrorKind::BrokenPipe, format!("audit hook {why}")));
                }
                self.hook.insert(hook)
            }
        };
        let mut rest = lines;
        while !rest.is_empty() {
            match send_nosignal(&hook.input, rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    // A partial line is in the stream now; only a new process gives the batch a
                    // clean start, and a hook that stopped reading is stuck anyway.
                    let pid = hook.child.id();
                    if let Some(hook) = self.hook.take() {
                        stop(hook, Duration::ZERO);
                    }
                    log::warn!(
                        "audit hook (pid {pid}) did not take {} of {} bytes ({e}); ended, it will be started again",
                        rest.len(),
                        lines.len()
                    );
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn close(&mut self, grace: Duration) {
        if let Some(hook) = self.hook.take() {
            stop(hook, grace);
        }
    }
}

impl Drop for HookSink {
    /// Without a `close`, the hook gets no grace: a drop is an abort, and it must not wait.
    fn drop(&mut self) {
        if let Some(hook) = self.hook.take() {
            stop(hook, Duration::ZERO);
        }
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

    fn set_sndbuf(sock: &UnixDatagram, bytes: usize) {
        rustix::net::sockopt::set_socket_send_buffer_size(sock, bytes).unwrap();
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

    fn quoted(path: &Path) -> String {
        let s = path.to_str().unwrap();
        assert!(!s.contains('\''));
        format!("'{s}'")
    }

    fn hook_pid(sink: &HookSink) -> u32 {
        sink.hook.as_ref().unwrap().child.id()
    }

    fn wait_for_hook_exit(sink: &mut HookSink) {
        let child = &mut sink.hook.as_mut().unwrap().child;
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "hook did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Our child `pid` has been waited for: neither running nor a zombie.
    fn reaped(pid: u32) -> bool {
        let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
        matches!(
            rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG),
            Err(rustix::io::Errno::CHILD)
        )
    }

    #[test]
    fn hook_receives_exactly_the_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut sink = HookSink::new(format!("cat >> {}", quoted(&out)), Duration::from_secs(5));
        assert!(sink.hook.is_none(), "started lazily");
        sink.deliver(format!("{OK_LINE}\n{FAILED_LINE}\n").as_bytes()).unwrap();
        let big: String = (0..20_000).map(|i| format!("{{\"seq\":{i}}}\n")).collect();
        sink.deliver(big.as_bytes()).unwrap();
        let pid = hook_pid(&sink);
        sink.close(Duration::from_secs(5));
        assert!(reaped(pid));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{OK_LINE}\n{FAILED_LINE}\n{big}"));
    }

    /// This process's descriptors from 3 up that any child inherits: the host's choice, not
    /// ours (the test harness may hold some, such as a jobserver pipe).
    fn inheritable_fds() -> Vec<String> {
        let mut fds = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
            let fd = entry.unwrap().file_name().into_string().unwrap();
            if fd.parse::<u32>().unwrap() < 3 {
                continue;
            }
            // Gone already: the directory listing's own descriptor, or another test's.
            let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else { continue };
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap().trim();
            if u32::from_str_radix(flags, 8).unwrap() & libc::O_CLOEXEC as u32 == 0 {
                fds.push(fd);
            }
        }
        fds
    }

    /// The hook's descriptors and what they point to, in order.
    fn open_fds(pid: u32) -> Vec<(u32, String)> {
        let mut open: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                // Closed since the listing.
                let target = std::fs::read_link(e.path()).ok()?;
                Some((e.file_name().into_string().unwrap().parse().unwrap(), target.display().to_string()))
            })
            .collect();
        open.sort();
        open
    }

    #[test]
    fn hook_inherits_nothing_of_ours_but_its_input() {
        // `exec` so that the process looked at is the hook itself, without the shell's own.
        let mut sink = HookSink::new("exec sleep 30".into(), Duration::from_secs(5));
        sink.deliver(b"{}\n").unwrap();
        let pid = hook_pid(&sink);
        // Descriptors come and go while the shell execs and `sleep` starts (locale files); one
        // leaked to the hook stays, so the check is retried until it passes or time runs out.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let open = open_fds(pid);
            let host = inheritable_fds();
            let ours = |(fd, target): &(u32, String)| {
                target.starts_with("socket:") || !host.contains(&fd.to_string())
            };
            let expected = open.len() >= 3
                && open[0].0 == 0
                && open[0].1.starts_with("socket:")
                && open[1] == (1, "/dev/null".into())
                && open[2] == (2, "/dev/null".into())
                && !open[3..].iter().any(ours);
            if expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the hook holds {open:?}; the host lets children inherit {host:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        sink.close(Duration::ZERO);
    }

    #[test]
    fn a_hook_that_exits_fails_delivery_without_sigpipe() {
        let mut sink = HookSink::new("true".into(), Duration::from_secs(5));
        // More than the socket buffer holds, so the write outlives the hook whatever the timing.
        let lines = format!("{OK_LINE}\n").repeat((4 << 20) / OK_LINE.len());
        for _ in 0..2 {
            // That no SIGPIPE is raised meanwhile is checked through the public interface in
            // tests/audit_sinks.rs, with the signal blocked so that it would show.
            let err = sink.deliver(lines.as_bytes()).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
            assert!(sink.hook.is_none(), "the dead hook was reaped");
        }
    }

    #[test]
    fn a_dead_hook_is_reported_then_restarted_and_gets_the_batch_again() {
        let dir = tempfile::tempdir().unwrap();
        let (out, mark) = (quoted(&dir.path().join("out")), quoted(&dir.path().join("mark")));
        // The first run takes one line and exits; every later run is a plain `cat`.
        let command = format!(
            "if [ -e {mark} ]; then exec cat >> {out}; fi; touch {mark}; read -r x; printf '%s\\n' \"$x\" >> {out}"
        );
        let mut sink = HookSink::new(command, Duration::from_secs(5));
        sink.deliver(b"one\n").unwrap();
        let first = hook_pid(&sink);
        wait_for_hook_exit(&mut sink);

        let err = sink.deliver(b"two\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        assert!(sink.hook.is_none());
        sink.deliver(b"two\n").unwrap();
        assert_ne!(hook_pid(&sink), first);
        sink.deliver(b"three\n").unwrap();
        sink.close(Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "one\ntwo\nthree\n");
    }

    #[test]
    fn a_hook_that_stops_reading_times_out() {
        let mut sink = HookSink::new("sleep 30".into(), Duration::from_millis(200));
        let lines = format!("{OK_LINE}\n").repeat((8 << 20) / OK_LINE.len());
        let started = Instant::now();
        sink.deliver(b"{}\n").unwrap();
        let pid = hook_pid(&sink);
        let err = sink.deliver(lines.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(reaped(pid), "the stuck hook was ended");
    }

    #[test]
    fn close_ends_a_hook_that_does_not_exit_within_grace() {
        let mut sink = HookSink::new("sleep 30".into(), Duration::from_secs(5));
        sink.deliver(b"{}\n").unwrap();
        let pid = hook_pid(&sink);
        let started = Instant::now();
        sink.close(Duration::from_millis(300));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1300), "{took:?}");
        assert!(reaped(pid));
        assert!(!Path::new("/proc").join(pid.to_string()).exists());
    }

    #[test]
    fn close_waits_for_a_hook_that_finishes_and_drop_reaps() {
        let mut sink = HookSink::new("cat > /dev/null".into(), Duration::from_secs(5));
        sink.deliver(b"{}\n").unwrap();
        let pid = hook_pid(&sink);
        let started = Instant::now();
        sink.close(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(2), "EOF ended it, no kill needed");
        assert!(reaped(pid));

        let mut sink = HookSink::new("sleep 30".into(), Duration::from_secs(5));
        sink.deliver(b"{}\n").unwrap();
        let pid = hook_pid(&sink);
        drop(sink);
        assert!(reaped(pid));
    }
}
