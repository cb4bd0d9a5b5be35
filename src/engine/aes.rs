//! AES (to be implemented).

use zeroize::Zeroizing;

pub struct AesKey {
    bytes: Zeroizing<Vec<u8>>,
}

impl AesKey {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
