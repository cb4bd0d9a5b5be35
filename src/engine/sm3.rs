//! SM3 (GB/T 32905) on RustCrypto's `sm3`: aws-lc-rs has no SM3.

use sm3::Digest;

/// An incremental SM3 computation.
#[derive(Clone, Default)]
pub struct Sm3(sm3::Sm3);

impl Sm3 {
    pub fn new() -> Sm3 {
        Sm3::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything so far; starts over.
    pub fn finish_reset(&mut self) -> [u8; 32] {
        self.0.finalize_reset().into()
    }
}

/// One-shot SM3.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(data);
    h.finish_reset()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The two examples of GB/T 32905-2016, appendix A.
    #[test]
    fn gb_t_32905_examples() {
        assert_eq!(hex(&sm3(b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        assert_eq!(
            hex(&sm3(&b"abcd".repeat(16))),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    #[test]
    fn incremental_equals_one_shot_and_resets() {
        let mut h = Sm3::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish_reset(), sm3(b"abc"));
        h.update(b"abc");
        assert_eq!(h.finish_reset(), sm3(b"abc"));
    }
}
