//! Mechanism parameters (GCM, CTR, OAEP, PSS, ECDH, RSA-AES, the SM2 signer ID, the KMS data-key
//! parameters, raw bytes) of every mechanism the token lists, with keys of every type: each
//! operation is refused with an error or runs, never panics.

#![no_main]

use cryptoki_sys::*;
use kms_pkcs11::mechanism::{self, LoadedKey, Mechanism, Param};
use kms_pkcs11::object::attribute::{Template, ulong_bytes};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

/// One key of each type, made once per process (RSA generation is slow).
fn keys() -> &'static [Arc<LoadedKey>] {
    static KEYS: OnceLock<Vec<Arc<LoadedKey>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut out = Vec::new();
        let secret = |mech, kt, t: Template| {
            let g = mechanism::generate_key(&Mechanism::new(mech), &t).unwrap();
            Arc::new(mechanism::load(CKO_SECRET_KEY, kt, &g.attrs).unwrap())
        };
        out.push(secret(CKM_AES_KEY_GEN, CKK_AES, Template::new().with(CKA_VALUE_LEN, ulong_bytes(32))));
        out.push(secret(kms_pkcs11::vendor::CKM_SM4_KEY_GEN, kms_pkcs11::vendor::CKK_SM4, Template::new()));
        out.push(secret(
            CKM_GENERIC_SECRET_KEY_GEN,
            CKK_GENERIC_SECRET,
            Template::new().with(CKA_VALUE_LEN, ulong_bytes(32)),
        ));
        let pairs = [
            (CKM_RSA_PKCS_KEY_PAIR_GEN, Template::new().with(CKA_MODULUS_BITS, ulong_bytes(2048))),
            (
                CKM_EC_KEY_PAIR_GEN,
                Template::new().with(CKA_EC_PARAMS, kms_pkcs11::kms::managed::P256.to_vec()),
            ),
            (
                kms_pkcs11::vendor::CKM_SM2_KEY_PAIR_GEN,
                Template::new().with(CKA_EC_PARAMS, kms_pkcs11::kms::managed::SM2.to_vec()),
            ),
        ];
        for (mech, public) in pairs {
            let p = mechanism::generate_key_pair(&Mechanism::new(mech), &public, &Template::new()).unwrap();
            out.push(Arc::new(mechanism::load(CKO_PUBLIC_KEY, p.key_type, &p.public).unwrap()));
            out.push(Arc::new(mechanism::load(CKO_PRIVATE_KEY, p.key_type, &p.private).unwrap()));
        }
        out
    })
}

fn mechanisms() -> &'static [CK_MECHANISM_TYPE] {
    static LIST: OnceLock<Vec<CK_MECHANISM_TYPE>> = OnceLock::new();
    LIST.get_or_init(kms_pkcs11::backend::local::mechanisms)
}

/// Reads fuzz input front to back; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.0.first().copied().unwrap_or(0);
        self.0 = self.0.get(1..).unwrap_or(&[]);
        b
    }

    fn ulong(&mut self) -> u64 {
        // Small values mostly, as real parameters are; any value sometimes.
        match self.byte() % 4 {
            0 => u64::from_le_bytes(std::array::from_fn(|_| self.byte())),
            _ => self.byte() as u64,
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let n = (self.byte() as usize).min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head.to_vec()
    }

    fn mech_type(&mut self) -> CK_MECHANISM_TYPE {
        let list = mechanisms();
        list[self.byte() as usize % list.len()]
    }

    fn param(&mut self, depth: u8) -> Param {
        match self.byte() % 11 {
            0 => Param::None,
            1 => Param::Bytes(self.bytes()),
            2 => Param::Gcm { iv: self.bytes(), aad: self.bytes(), tag_bits: self.ulong() },
            3 => {
                Param::Ctr { counter_bits: self.ulong(), counter_block: std::array::from_fn(|_| self.byte()) }
            }
            4 => Param::Oaep { hash: self.mech_type(), mgf: self.ulong(), source: self.bytes() },
            5 => Param::Pss { hash: self.mech_type(), mgf: self.ulong(), salt_len: self.ulong() },
            6 => Param::Ecdh { kdf: self.ulong(), shared_data: self.bytes(), public_data: self.bytes() },
            7 => Param::Ulong(self.ulong()),
            8 => Param::DataKey { len: self.ulong(), context: self.bytes() },
            9 if depth == 0 => Param::RsaAes { aes_key_bits: self.ulong(), oaep: Box::new(self.param(1)) },
            _ => Param::Bytes(self.bytes()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let ty = input.mech_type();
    let mech = Mechanism::with(ty, input.param(0));
    let key = &keys()[input.byte() as usize % keys().len()];
    let payload = input.bytes();
    let mut out = vec![0u8; 8192];
    if let Ok(mut c) = mechanism::encrypt_init(&mech, key) {
        let n = c.len(payload.len()).min(out.len());
        let _ = c.run(&payload, &mut out[..n]);
    }
    if let Ok(mut c) = mechanism::decrypt_init(&mech, key) {
        let n = c.len(payload.len()).min(out.len());
        let _ = c.run(&payload, &mut out[..n]);
    }
    if let Ok(mut s) = mechanism::sign_init(&mech, key) {
        let n = s.len().min(out.len());
        let _ = s.sign(&payload, &mut out[..n]);
    }
    if let Ok(mut v) = mechanism::verify_init(&mech, key) {
        let _ = v.verify(&payload, &payload);
    }
    if let Ok(mut d) = mechanism::digest_init(&mech) {
        let _ = d.update(&payload);
    }
    let _ = mechanism::wrap(&mech, key, &payload);
    let _ = mechanism::unwrap(&mech, key, &payload);
});
