//! Randomness from AWS-LC's DRBG (seeded by the OS, reseeded on fork).

use super::CryptoError;

pub fn fill(out: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(out).map_err(CryptoError::from)
}

/// `N` random bytes.
pub fn array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

/// A `rand_core` generator for the RustCrypto crates, drawing from the same DRBG. AWS-LC's DRBG
/// does not fail once the library is loaded; if it ever did, the panic is caught at the FFI
/// boundary and the call fails with `CKR_GENERAL_ERROR`.
#[derive(Clone, Copy, Default)]
pub struct Rng;

impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(dst).expect("AWS-LC DRBG failure");
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Rng {}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_differ() {
        let a: [u8; 32] = super::array().unwrap();
        let b: [u8; 32] = super::array().unwrap();
        assert_ne!(a, b);
    }
}
