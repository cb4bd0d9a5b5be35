//! Attribute templates into C_CreateObject, C_GenerateKey, C_GenerateKeyPair and C_UnwrapKey,
//! through the engine every C_* call reaches, on a token logged in as the user. Every template
//! makes an object or is refused with an error; a made object is destroyed again.

#![no_main]

use cryptoki_sys::*;
use kms_pkcs11::config::Config;
use kms_pkcs11::mechanism::{Mechanism, Param};
use kms_pkcs11::object::attribute::{Template, bool_bytes, ulong_bytes};
use kms_pkcs11::token::Library;
use kms_pkcs11::vendor::*;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Setup {
    lib: Library,
    session: CK_SESSION_HANDLE,
    kek: CK_OBJECT_HANDLE,
    _dir: std::path::PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kms-fuzz-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "[pin]\nargon2_memory_kib = 64\nargon2_iterations = 1\n[audit]\nenabled = false\n\
             [quota]\nkeys = 100000000\naliases = 100000000\nkey_versions = 100000000\n\
             [rate_limit]\ncreate = \"unlimited\"\ncrypto_symmetric = \"unlimited\"\n\
             crypto_asymmetric = \"unlimited\"\nread = \"unlimited\"\nwrite = \"unlimited\"\n\
             [kms]\ndestroy = \"immediate\"\n[[token]]\nlabel = \"fuzz\"\nstore = \"{}/fuzz.sqlite3\"\n",
            dir.display()
        );
        let lib = Library::new(Config::parse(&text, "fuzz").unwrap()).unwrap();
        lib.init_token(0, b"so-pin-0000", "fuzz").unwrap();
        let session = lib.open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION).unwrap();
        lib.login(session, CKU_SO, b"so-pin-0000").unwrap();
        lib.init_pin(session, b"user-pin-0000").unwrap();
        lib.logout(session).unwrap();
        lib.login(session, CKU_USER, b"user-pin-0000").unwrap();
        let kek_template = Template::new()
            .with(CKA_VALUE_LEN, ulong_bytes(32))
            .with(CKA_WRAP, bool_bytes(true))
            .with(CKA_UNWRAP, bool_bytes(true));
        let kek = lib.generate_key(session, &Mechanism::new(CKM_AES_KEY_GEN), &kek_template).unwrap();
        Setup { lib, session, kek, _dir: dir }
    })
}

/// Attribute types worth trying: the standard ones templates carry, the vendor ones, and
/// whatever number the input names.
const TYPES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_SENSITIVE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_WRAP,
    CKA_UNWRAP,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_DERIVE,
    CKA_EXTRACTABLE,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_APPLICATION,
    CKA_CHECK_VALUE,
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
    CKA_ALLOWED_MECHANISMS,
    CKA_START_DATE,
    CKA_TRUSTED,
    CKA_KMS_ORIGIN,
    CKA_KMS_ROTATION_INTERVAL,
    CKA_KMS_DESCRIPTION,
    CKA_KMS_TAGS,
    CKA_KMS_ALIASES,
    CKA_KMS_DELETION_PROTECTION,
    CKA_KMS_KEY_ID,
    CKA_KMS_MATERIAL_EXPIRY,
    CKA_KMS_KEY_STATE,
];

const CLASSES: &[CK_ULONG] = &[CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY];
const KEY_TYPES: &[CK_ULONG] = &[CKK_AES, CKK_RSA, CKK_EC, CKK_GENERIC_SECRET, CKK_SM2, CKK_SM4];
const GENERATORS: &[CK_MECHANISM_TYPE] = &[
    CKM_AES_KEY_GEN,
    CKM_GENERIC_SECRET_KEY_GEN,
    CKM_SM4_KEY_GEN,
    CKM_EC_KEY_PAIR_GEN,
    CKM_SM2_KEY_PAIR_GEN,
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.0.first().copied().unwrap_or(0);
        self.0 = self.0.get(1..).unwrap_or(&[]);
        b
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.byte() as usize).min(max).min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head.to_vec()
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte() as usize % from.len()]
    }

    fn template(&mut self) -> Template {
        let mut t = Template::new();
        for _ in 0..self.byte() % 10 {
            let ty = match self.byte() % 8 {
                0 => u64::from_le_bytes(std::array::from_fn(|_| self.byte())),
                _ => self.pick(TYPES),
            };
            let value = match self.byte() % 5 {
                0 => bool_bytes(self.byte() & 1 == 1),
                1 => ulong_bytes(self.pick(CLASSES)),
                2 => ulong_bytes(self.pick(KEY_TYPES)),
                3 => ulong_bytes(self.byte() as CK_ULONG * 8),
                _ => self.bytes(600),
            };
            t.push(ty, value);
        }
        t
    }
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let mut input = Input(data);
    let action = input.byte() % 4;
    let first = input.template();
    let made = match action {
        0 => s.lib.create_object(s.session, &first).map(|h| vec![h]),
        1 => s.lib.generate_key(s.session, &Mechanism::new(input.pick(GENERATORS)), &first).map(|h| vec![h]),
        2 => {
            let second = input.template();
            s.lib
                .generate_key_pair(s.session, &Mechanism::new(input.pick(GENERATORS)), &first, &second)
                .map(|(a, b)| vec![a, b])
        }
        _ => {
            let mech = if input.byte() & 1 == 0 { CKM_AES_KEY_WRAP_KWP } else { CKM_AES_KEY_WRAP };
            let wrapped = input.bytes(600);
            s.lib
                .unwrap_key(s.session, &Mechanism::with(mech, Param::None), s.kek, &wrapped, &first)
                .map(|h| vec![h])
        }
    };
    for h in made.unwrap_or_default() {
        let _ = s.lib.destroy_object(s.session, h);
    }
});
