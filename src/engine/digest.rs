//! Message digests (SHA-1, SHA-2) on aws-lc-rs.

use aws_lc_rs::digest as aws;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[allow(clippy::len_without_is_empty)] // an output length, never "empty"
impl Algorithm {
    /// Output length in bytes.
    pub fn len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha224 => 28,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    fn aws(self) -> &'static aws::Algorithm {
        match self {
            Algorithm::Sha1 => &aws::SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha224 => &aws::SHA224,
            Algorithm::Sha256 => &aws::SHA256,
            Algorithm::Sha384 => &aws::SHA384,
            Algorithm::Sha512 => &aws::SHA512,
        }
    }

    /// The DER `DigestInfo` header that precedes a digest of this algorithm in a PKCS#1 v1.5
    /// signature (RFC 8017 §9.2, note 1).
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Algorithm::Sha1 => {
                &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14]
            }
            Algorithm::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04,
                0x05, 0x00, 0x04, 0x1c,
            ],
            Algorithm::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
                0x05, 0x00, 0x04, 0x20,
            ],
            Algorithm::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
                0x05, 0x00, 0x04, 0x30,
            ],
            Algorithm::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
                0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// The algorithm whose `DigestInfo` a byte string is, if any.
    pub fn from_digest_info(data: &[u8]) -> Option<(Algorithm, &[u8])> {
        use Algorithm::*;
        [Sha1, Sha224, Sha256, Sha384, Sha512].into_iter().find_map(|a| {
            let p = a.digest_info_prefix();
            (data.len() == p.len() + a.len() && data.starts_with(p)).then(|| (a, &data[p.len()..]))
        })
    }
}

/// A digest or MAC value of at most 64 bytes, held inline.
#[derive(Clone)]
pub struct Output {
    buf: [u8; 64],
    len: usize,
}

impl Default for Output {
    fn default() -> Output {
        Output { buf: [0u8; 64], len: 0 }
    }
}

/// The value may be a MAC or derived key material: wiped when dropped.
impl Drop for Output {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl Output {
    /// Replaces the value; `bytes` is at most 64 bytes long.
    pub fn set(&mut self, bytes: &[u8]) {
        self.len = bytes.len().min(64);
        self.buf[..self.len].copy_from_slice(&bytes[..self.len]);
    }
}

impl std::ops::Deref for Output {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl From<aws::Digest> for Output {
    fn from(d: aws::Digest) -> Output {
        let mut out = Output::default();
        out.set(d.as_ref());
        out
    }
}

/// An incremental digest.
#[derive(Clone)]
pub struct Hasher {
    algorithm: Algorithm,
    ctx: aws::Context,
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        Hasher { algorithm, ctx: aws::Context::new(algorithm.aws()) }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// Returns the digest of everything so far and starts over.
    pub fn finish_reset(&mut self) -> Output {
        let ctx = std::mem::replace(&mut self.ctx, aws::Context::new(self.algorithm.aws()));
        ctx.finish().into()
    }
}

/// One-shot digest.
pub fn digest(algorithm: Algorithm, data: &[u8]) -> Output {
    aws::digest(algorithm.aws(), data).into()
}

pub fn sha1(data: &[u8]) -> Output {
    digest(Algorithm::Sha1, data)
}

pub fn sha256(data: &[u8]) -> Output {
    digest(Algorithm::Sha256, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn fips_180_abc() {
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&digest(Algorithm::Sha224, b"abc")),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn incremental_equals_one_shot() {
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(&*h.finish_reset(), &*digest(Algorithm::Sha512, b"abc"));
        // The hasher starts over after finishing.
        h.update(b"abc");
        assert_eq!(&*h.finish_reset(), &*digest(Algorithm::Sha512, b"abc"));
    }

    #[test]
    fn digest_info_round_trip() {
        for a in [Algorithm::Sha1, Algorithm::Sha224, Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512]
        {
            let d = digest(a, b"x");
            let mut info = a.digest_info_prefix().to_vec();
            info.extend_from_slice(&d);
            let (found, value) = Algorithm::from_digest_info(&info).unwrap();
            assert_eq!(found, a);
            assert_eq!(value, &*d);
            // Prefix lengths encode the digest length.
            assert_eq!(a.digest_info_prefix()[1] as usize + 2, a.digest_info_prefix().len() + a.len());
        }
        assert!(Algorithm::from_digest_info(&[0u8; 32]).is_none());
    }
}
