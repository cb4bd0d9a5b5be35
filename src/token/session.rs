//! Sessions and the operations active in them, with the spec's output convention: a call with
//! no buffer asks for the length, a short buffer gets `CKR_BUFFER_TOO_SMALL` and the operation
//! stays active, anything else ends the operation.

use super::audit::{Call, OpTag};
use super::slot::Token;
use crate::error::{Error, Result};
use crate::mechanism::{Cipher, Digester, Signer, Verifier};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zeroize::Zeroizing;

/// How many sessions this process has open on one token. The library changes it under its
/// session table's write lock, so it agrees with the table; reading it takes no lock and no
/// walk over every session.
#[derive(Default)]
pub struct SessionCount {
    all: AtomicUsize,
    read_only: AtomicUsize,
}

impl SessionCount {
    pub fn opened(&self, read_write: bool) {
        self.all.fetch_add(1, Ordering::Relaxed);
        if !read_write {
            self.read_only.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One session closed; how many are left.
    pub fn closed(&self, read_write: bool) -> usize {
        if !read_write {
            self.read_only.fetch_sub(1, Ordering::Relaxed);
        }
        self.all.fetch_sub(1, Ordering::Relaxed) - 1
    }

    pub fn clear(&self) {
        self.all.store(0, Ordering::Relaxed);
        self.read_only.store(0, Ordering::Relaxed);
    }

    pub fn all(&self) -> usize {
        self.all.load(Ordering::Relaxed)
    }

    pub fn read_only(&self) -> usize {
        self.read_only.load(Ordering::Relaxed)
    }
}

/// Where an operation's output goes.
pub enum Out<'a> {
    /// The caller passed no buffer: report the length that suffices.
    Query,
    Buf(&'a mut [u8]),
}

/// An active operation and the output it already produced for a caller whose buffer was short.
pub struct Active<T: ?Sized> {
    pub op: Box<T>,
    pending: Option<Zeroizing<Vec<u8>>>,
    /// A multi-part update happened: the single-part call is no longer allowed.
    pub multi: bool,
    /// The key has `CKA_ALWAYS_AUTHENTICATE`: the user must log in for this operation
    /// (`CKU_CONTEXT_SPECIFIC`) before it produces anything.
    pub needs_auth: bool,
    /// Key identity, for audit and error reporting.
    pub key: CK_OBJECT_HANDLE,
    /// What the record of the call that ends the operation says.
    pub tag: Option<OpTag>,
}

impl<T: ?Sized> Active<T> {
    pub fn new(op: Box<T>, key: CK_OBJECT_HANDLE, needs_auth: bool) -> Active<T> {
        Active { op, pending: None, multi: false, needs_auth, key, tag: None }
    }

    /// The operation begun in `call` goes on: its record waits for the call that ends it.
    pub fn tagged(mut self, call: &mut Call) -> Active<T> {
        self.tag = Some(call.tag());
        call.deferred = true;
        self
    }
}

/// What one step of an operation did.
pub enum Step {
    /// Length query or short buffer: the operation goes on.
    Continue(Result<usize>),
    /// Output delivered or the step failed: a final step ends the operation.
    Done(Result<usize>),
}

impl<T: ?Sized> Active<T> {
    /// Runs a step that writes at most `max` bytes. `step` computes into the buffer it is given.
    pub fn produce(
        &mut self,
        out: Out<'_>,
        max: usize,
        step: impl FnOnce(&mut T, &mut [u8]) -> Result<usize>,
    ) -> Step {
        if self.needs_auth {
            return Step::Done(Err(Error::UserNotLoggedIn));
        }
        let buf = match out {
            Out::Query => return Step::Continue(Ok(self.pending.as_ref().map_or(max, |p| p.len()))),
            Out::Buf(b) => b,
        };
        if let Some(p) = self.pending.take() {
            if p.len() <= buf.len() {
                buf[..p.len()].copy_from_slice(&p);
                return Step::Done(Ok(p.len()));
            }
            let n = p.len();
            self.pending = Some(p);
            return Step::Continue(Err(Error::BufferTooSmall(n)));
        }
        if buf.len() >= max {
            return Step::Done(step(&mut self.op, buf));
        }
        let mut tmp = Zeroizing::new(vec![0u8; max]);
        match step(&mut self.op, &mut tmp) {
            Ok(n) if n <= buf.len() => {
                buf[..n].copy_from_slice(&tmp[..n]);
                Step::Done(Ok(n))
            }
            Ok(n) => {
                tmp.truncate(n);
                self.pending = Some(tmp);
                Step::Continue(Err(Error::BufferTooSmall(n)))
            }
            Err(e) => Step::Done(Err(e)),
        }
    }
}

/// A search in progress.
pub struct Search {
    pub results: Vec<CK_OBJECT_HANDLE>,
    pub next: usize,
}

/// The operations of a session; each kind may be active once.
#[derive(Default)]
pub struct Ops {
    pub search: Option<Search>,
    pub encrypt: Option<Active<dyn Cipher>>,
    pub decrypt: Option<Active<dyn Cipher>>,
    pub digest: Option<Active<dyn Digester>>,
    pub sign: Option<Active<dyn Signer>>,
    pub verify: Option<Active<dyn Verifier>>,
    /// `C_VerifySignature*` (3.2): a verification whose signature came with the init.
    pub verify_signature: Option<(Active<dyn Verifier>, Vec<u8>)>,
}

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub token: Arc<Token>,
    pub read_write: bool,
    pub ops: Mutex<Ops>,
}

impl Session {
    /// `CKS_*` for the session, from the token's login state.
    pub fn state(&self) -> CK_STATE {
        use super::slot::Who;
        match (self.token.who(), self.read_write) {
            (Who::Public, false) => CKS_RO_PUBLIC_SESSION,
            (Who::Public, true) => CKS_RW_PUBLIC_SESSION,
            (Who::User, false) => CKS_RO_USER_FUNCTIONS,
            (Who::User, true) => CKS_RW_USER_FUNCTIONS,
            (Who::So, _) => CKS_RW_SO_FUNCTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    fn active() -> Active<Echo> {
        Active::new(Box::new(Echo), 1, false)
    }

    fn write3(_: &mut Echo, b: &mut [u8]) -> Result<usize> {
        b[..3].copy_from_slice(b"abc");
        Ok(3)
    }

    #[test]
    fn query_reports_the_bound_and_keeps_going() {
        let mut a = active();
        assert!(matches!(a.produce(Out::Query, 8, write3), Step::Continue(Ok(8))));
    }

    #[test]
    fn short_buffer_keeps_the_output_for_the_retry() {
        let mut a = active();
        let mut small = [0u8; 2];
        assert!(matches!(
            a.produce(Out::Buf(&mut small), 8, write3),
            Step::Continue(Err(Error::BufferTooSmall(3)))
        ));
        // The exact length is now known to a query.
        assert!(matches!(a.produce(Out::Query, 8, write3), Step::Continue(Ok(3))));
        let mut ok = [0u8; 3];
        let called = std::cell::Cell::new(false);
        let r = a.produce(Out::Buf(&mut ok), 8, |_, _| {
            called.set(true);
            Ok(0)
        });
        assert!(matches!(r, Step::Done(Ok(3))));
        assert!(!called.get(), "the retry must not compute again");
        assert_eq!(&ok, b"abc");
    }

    #[test]
    fn buffer_shorter_than_bound_but_long_enough_succeeds() {
        let mut a = active();
        let mut buf = [0u8; 3];
        assert!(matches!(a.produce(Out::Buf(&mut buf), 8, write3), Step::Done(Ok(3))));
        assert_eq!(&buf, b"abc");
    }

    #[test]
    fn context_login_is_required_first() {
        let mut a = Active::new(Box::new(Echo), 1, true);
        let mut buf = [0u8; 8];
        assert!(matches!(a.produce(Out::Buf(&mut buf), 8, write3), Step::Done(Err(Error::UserNotLoggedIn))));
    }
}
