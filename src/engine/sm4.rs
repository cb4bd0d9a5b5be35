//! SM4 (to be implemented).

use zeroize::Zeroizing;

pub struct Sm4Key {
    bytes: Zeroizing<[u8; 16]>,
}

impl Sm4Key {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..]
    }
}
