//! HMAC over the SHA family (aws-lc-rs).

use super::digest::Algorithm;
use aws_lc_rs::hmac as aws;

fn aws_alg(a: Algorithm) -> aws::Algorithm {
    match a {
        Algorithm::Sha1 => aws::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Algorithm::Sha224 => aws::HMAC_SHA224,
        Algorithm::Sha256 => aws::HMAC_SHA256,
        Algorithm::Sha384 => aws::HMAC_SHA384,
        Algorithm::Sha512 => aws::HMAC_SHA512,
    }
}

/// An incremental HMAC computation.
pub struct Mac {
    ctx: aws::Context,
}

impl Mac {
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Mac {
        let key = aws::Key::new(aws_alg(algorithm), key);
        Mac { ctx: aws::Context::with_key(&key) }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    /// The full-length tag; consumes the computation.
    pub fn finish(self) -> super::digest::Output {
        let tag = self.ctx.sign();
        let mut out = super::digest::Output::default();
        out.set(tag.as_ref());
        out
    }
}

/// Compares a tag with a computed one in constant time.
pub fn tags_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc_4231_case_2() {
        let mut m = Mac::new(Algorithm::Sha256, b"Jefe");
        m.update(b"what do ya want ");
        m.update(b"for nothing?");
        assert_eq!(hex(&m.finish()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn tag_comparison() {
        assert!(tags_equal(b"abc", b"abc"));
        assert!(!tags_equal(b"abc", b"abd"));
        assert!(!tags_equal(b"abc", b"ab"));
    }
}
