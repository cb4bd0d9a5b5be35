//! The hook sink inside a host that has not ignored SIGPIPE: a hook that dies before reading
//! must cost a failed delivery, never a signal. The test harness ignores SIGPIPE for the whole
//! process, which would hide one; blocked on the test's thread, a SIGPIPE stays pending, where
//! it shows.

use kms_pkcs11::kms::audit::sink::{HookSink, Sink};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Runs `f` and tells whether it raised SIGPIPE on this thread.
fn raises_sigpipe(f: impl FnOnce()) -> bool {
    // SAFETY: sigset_t is plain data for which all zeroes is a valid value to initialise.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: every pointer is to a live local sigset_t; the mask changed is this test thread's
    // own and is restored before returning.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old), 0);
    }
    f();
    // SAFETY: as above; the zero timeout makes sigtimedwait consume a pending SIGPIPE without
    // waiting, so none is delivered when the mask is restored.
    unsafe {
        libc::sigpending(&mut pending);
        let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGPIPE {}
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        raised
    }
}

#[test]
fn the_sigpipe_probe_sees_a_sigpipe() {
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    assert!(raises_sigpipe(|| {
        // SAFETY: writes one byte from a live static buffer to an open descriptor.
        let n = unsafe { libc::write(a.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(n, -1);
    }));
}

#[test]
fn a_hook_that_exits_fails_delivery_without_sigpipe() {
    let line = r#"{"seq":1,"op":"C_Sign","result":"CKR_OK"}"#;
    let mut sink = HookSink::new("true".into(), Duration::from_secs(5));
    // More than the socket buffer holds, so the write outlives the hook whatever the timing.
    let lines = format!("{line}\n").repeat((4 << 20) / line.len());
    for _ in 0..2 {
        let mut result = Ok(());
        assert!(!raises_sigpipe(|| result = sink.deliver(lines.as_bytes())));
        let err = result.unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
    }
}
