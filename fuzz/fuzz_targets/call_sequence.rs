//! Random sequences of C_* calls through the C ABI, as a confused or hostile application makes
//! them: random session and object handles (real ones and made-up ones), random lengths and
//! flags, null pointers, calls out of order, C_Finalize and C_Initialize in between. Pointers
//! that are not null always point at as many bytes as the length beside them says: a caller
//! lying about its own buffers is outside what any module can defend against.

#![no_main]

use cryptoki_sys::*;
use libfuzzer_sys::fuzz_target;
use std::ptr::null_mut;
use std::sync::OnceLock;

const SO_PIN: &[u8] = b"so-pin-0000";
const USER_PIN: &[u8] = b"user-pin-0000";

fn list() -> &'static CK_FUNCTION_LIST {
    static LIST: OnceLock<usize> = OnceLock::new();
    let addr = *LIST.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kms-fuzz-calls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            "[pin]\nargon2_memory_kib = 64\nargon2_iterations = 1\n[audit]\nenabled = false\n\
             [quota]\nkeys = 100000000\naliases = 100000000\nkey_versions = 100000000\n\
             [rate_limit]\ncreate = \"unlimited\"\ncrypto_symmetric = \"unlimited\"\n\
             crypto_asymmetric = \"unlimited\"\nread = \"unlimited\"\nwrite = \"unlimited\"\n\
             [kms]\ndestroy = \"immediate\"\n[[token]]\nlabel = \"fuzz\"\n",
        )
        .unwrap();
        // SAFETY: set once, before the library is initialized, while the fuzzer is one thread.
        unsafe {
            std::env::set_var("KMS_PKCS11_CONFIG", &config);
            std::env::set_var("KMS_PKCS11_HOME", &dir);
        }
        let mut list = null_mut();
        // SAFETY: a writable pointer for the list.
        assert_eq!(unsafe { kms_pkcs11::ffi::C_GetFunctionList(&mut list) }, CKR_OK);
        // SAFETY: the list is a static of the library.
        let l = unsafe { &*list };
        // SAFETY: the calls below pass valid pointers with their lengths.
        unsafe {
            assert_eq!(l.C_Initialize.unwrap()(null_mut()), CKR_OK);
            let mut label = [b' '; 32];
            label[..4].copy_from_slice(b"fuzz");
            assert_eq!(
                l.C_InitToken.unwrap()(0, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _, label.as_mut_ptr()),
                CKR_OK
            );
            let mut h = 0;
            l.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, null_mut(), None, &mut h);
            l.C_Login.unwrap()(h, CKU_SO, SO_PIN.as_ptr() as *mut _, SO_PIN.len() as _);
            l.C_InitPIN.unwrap()(h, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as _);
            l.C_CloseSession.unwrap()(h);
        }
        list as usize
    });
    // SAFETY: the library's static function list.
    unsafe { &*(addr as *const CK_FUNCTION_LIST) }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.0.first().copied().unwrap_or(0);
        self.0 = self.0.get(1..).unwrap_or(&[]);
        b
    }

    fn ulong(&mut self) -> CK_ULONG {
        match self.byte() % 6 {
            0 => u64::from_le_bytes(std::array::from_fn(|_| self.byte())),
            1 => 0,
            _ => self.byte() as CK_ULONG,
        }
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.byte() as usize % from.len()]
    }
}

const MECHS: &[CK_MECHANISM_TYPE] = &[
    CKM_AES_KEY_GEN,
    CKM_AES_ECB,
    CKM_AES_CBC,
    CKM_AES_CBC_PAD,
    CKM_AES_GCM,
    CKM_AES_CTR,
    CKM_AES_KEY_WRAP,
    CKM_SHA256,
    CKM_SHA256_HMAC,
    CKM_EC_KEY_PAIR_GEN,
    CKM_ECDSA,
    CKM_GENERIC_SECRET_KEY_GEN,
    0x8000_0107,
    0x8000_0108,
    0x804B_4D01,
    0xFFFF_FFFF,
];

/// A mechanism whose parameter pointer, when set, points at `param.len()` readable bytes of the
/// shape the mechanism reads (a GCM structure with its own valid pointers, an IV), or at bytes
/// too short to be taken for a structure.
struct Mech {
    m: CK_MECHANISM,
    _iv: Vec<u8>,
    _gcm: Box<CK_GCM_PARAMS>,
    _raw: Vec<u8>,
}

fn mechanism(input: &mut Input) -> Box<Mech> {
    let ty = input.pick(MECHS);
    let iv = vec![input.byte(); 1 + input.byte() as usize % 32];
    let mut mech = Box::new(Mech {
        m: CK_MECHANISM { mechanism: ty, pParameter: null_mut(), ulParameterLen: 0 },
        _gcm: Box::new(CK_GCM_PARAMS {
            pIv: null_mut(),
            ulIvLen: 0,
            ulIvBits: input.ulong(),
            pAAD: null_mut(),
            ulAADLen: 0,
            ulTagBits: input.pick(&[0, 96, 128, 129]),
        }),
        _raw: vec![input.byte(); 12],
        _iv: iv,
    });
    match input.byte() % 4 {
        0 => {}
        1 if ty == CKM_AES_GCM => {
            mech._gcm.pIv = mech._iv.as_mut_ptr();
            mech._gcm.ulIvLen = mech._iv.len() as _;
            mech._gcm.pAAD = if input.byte() & 1 == 0 { null_mut() } else { mech._iv.as_mut_ptr() };
            mech._gcm.ulAADLen = if mech._gcm.pAAD.is_null() { 0 } else { mech._iv.len() as _ };
            mech.m.pParameter = &mut *mech._gcm as *mut CK_GCM_PARAMS as *mut _;
            mech.m.ulParameterLen = std::mem::size_of::<CK_GCM_PARAMS>() as _;
        }
        2 => {
            mech.m.pParameter = mech._iv.as_mut_ptr() as *mut _;
            mech.m.ulParameterLen = mech._iv.len().min(16) as _;
        }
        _ => {
            // 12 bytes: shorter than any parameter structure that holds a pointer.
            mech.m.pParameter = mech._raw.as_mut_ptr() as *mut _;
            mech.m.ulParameterLen = input.byte() as CK_ULONG % 13;
        }
    }
    mech
}

/// A template with valid pointers: values of their stated lengths, or null (a size query).
struct Tpl {
    attrs: Vec<CK_ATTRIBUTE>,
    _values: Vec<Vec<u8>>,
}

fn template(input: &mut Input) -> Tpl {
    let types = [
        CKA_CLASS,
        CKA_TOKEN,
        CKA_LABEL,
        CKA_VALUE,
        CKA_VALUE_LEN,
        CKA_KEY_TYPE,
        CKA_ENCRYPT,
        CKA_DECRYPT,
        CKA_SIGN,
        CKA_EXTRACTABLE,
        CKA_SENSITIVE,
        CKA_EC_PARAMS,
        0x804B_4D01,
        0x804B_4D0D,
        0x4000_0211,
    ];
    let mut values = Vec::new();
    let mut kinds = Vec::new();
    for _ in 0..input.byte() % 6 {
        kinds.push(input.pick(&types));
        let value: Vec<u8> = match input.byte() % 4 {
            0 => vec![input.byte() & 1],
            1 => (input.byte() as CK_ULONG % 5).to_ne_bytes().to_vec(),
            2 => 32u64.to_ne_bytes().to_vec(),
            _ => vec![input.byte(); input.byte() as usize % 64],
        };
        values.push(value);
    }
    let mut attrs = Vec::new();
    for (v, ty) in values.iter_mut().zip(kinds) {
        let null = input.byte() % 8 == 0;
        attrs.push(CK_ATTRIBUTE {
            type_: ty,
            pValue: if null { null_mut() } else { v.as_mut_ptr() as *mut _ },
            ulValueLen: if null { input.ulong() } else { v.len() as _ },
        });
    }
    Tpl { attrs, _values: values }
}

fuzz_target!(|data: &[u8]| {
    let l = list();
    let mut input = Input(data);
    let mut sessions: Vec<CK_SESSION_HANDLE> = vec![0, 1, CK_INVALID_HANDLE];
    let mut objects: Vec<CK_OBJECT_HANDLE> = vec![0, 1, 0xFFFF_FFFF];
    let mut buf = vec![0u8; 4096];
    for _ in 0..32 {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte() % 20;
        let h = if input.byte() % 8 == 0 { input.ulong() } else { input.pick(&sessions) };
        let o = if input.byte() % 8 == 0 { input.ulong() } else { input.pick(&objects) };
        let out_len_cap = input.byte() as usize * 16;
        let mut out_len: CK_ULONG = out_len_cap as _;
        let out = if input.byte() % 4 == 0 { null_mut() } else { buf.as_mut_ptr() };
        let data_len = (input.byte() as usize * 8).min(buf.len());
        let input_data = vec![input.byte(); data_len];
        let mut m = mechanism(&mut input);
        let mut t = template(&mut input);
        let (tp, tn) = if input.byte() % 8 == 0 {
            (null_mut(), 3)
        } else {
            (t.attrs.as_mut_ptr(), t.attrs.len() as CK_ULONG)
        };
        // SAFETY: every pointer is null or points at as many bytes (or structures) as the length
        // beside it says; the output buffer holds `out_len` bytes.
        unsafe {
            match op {
                0 => {
                    let mut new = 0;
                    let flags =
                        input.pick(&[CKF_SERIAL_SESSION | CKF_RW_SESSION, CKF_SERIAL_SESSION, 0, 0xFF]);
                    if l.C_OpenSession.unwrap()(input.pick(&[0, 1, 99]), flags, null_mut(), None, &mut new)
                        == CKR_OK
                    {
                        sessions.push(new);
                    }
                }
                1 => {
                    l.C_CloseSession.unwrap()(h);
                }
                2 => {
                    let pin = input.pick(&[USER_PIN, SO_PIN, b"wrong".as_slice(), b"".as_slice()]);
                    let p = if input.byte() % 8 == 0 { null_mut() } else { pin.as_ptr() as *mut _ };
                    l.C_Login.unwrap()(
                        h,
                        input.pick(&[CKU_USER, CKU_SO, CKU_CONTEXT_SPECIFIC, 7]),
                        p,
                        pin.len() as _,
                    );
                }
                3 => {
                    l.C_Logout.unwrap()(h);
                }
                4 => {
                    let mut new = 0;
                    if l.C_GenerateKey.unwrap()(h, &mut m.m, tp, tn, &mut new) == CKR_OK {
                        objects.push(new);
                    }
                }
                5 => {
                    l.C_EncryptInit.unwrap()(h, &mut m.m, o);
                }
                6 => {
                    l.C_Encrypt.unwrap()(h, input_data.as_ptr() as *mut _, data_len as _, out, &mut out_len);
                }
                7 => {
                    l.C_DecryptInit.unwrap()(h, &mut m.m, o);
                }
                8 => {
                    l.C_Decrypt.unwrap()(h, input_data.as_ptr() as *mut _, data_len as _, out, &mut out_len);
                }
                9 => {
                    l.C_SignInit.unwrap()(h, &mut m.m, o);
                }
                10 => {
                    l.C_Sign.unwrap()(h, input_data.as_ptr() as *mut _, data_len as _, out, &mut out_len);
                }
                11 => {
                    l.C_FindObjectsInit.unwrap()(h, tp, tn);
                }
                12 => {
                    let mut found = [0 as CK_OBJECT_HANDLE; 16];
                    let mut n = 0;
                    let max = input.byte() as CK_ULONG % 17;
                    if l.C_FindObjects.unwrap()(h, found.as_mut_ptr(), max, &mut n) == CKR_OK {
                        objects.extend(&found[..(n as usize).min(16)]);
                    }
                    l.C_FindObjectsFinal.unwrap()(h);
                }
                13 => {
                    l.C_GetAttributeValue.unwrap()(h, o, tp, tn);
                }
                14 => {
                    l.C_DestroyObject.unwrap()(h, o);
                }
                15 => {
                    let mut new = 0;
                    if l.C_CreateObject.unwrap()(h, tp, tn, &mut new) == CKR_OK {
                        objects.push(new);
                    }
                }
                16 => {
                    l.C_SetAttributeValue.unwrap()(h, o, tp, tn);
                }
                17 => {
                    l.C_DigestInit.unwrap()(h, &mut m.m);
                    l.C_Digest.unwrap()(h, input_data.as_ptr() as *mut _, data_len as _, out, &mut out_len);
                }
                18 => {
                    let n = (input.byte() as usize * 16).min(buf.len());
                    l.C_GenerateRandom.unwrap()(h, buf.as_mut_ptr(), n as _);
                    let mut info: CK_SESSION_INFO = std::mem::zeroed();
                    l.C_GetSessionInfo.unwrap()(h, &mut info);
                }
                _ => {
                    if input.byte() % 4 == 0 {
                        // The whole library goes and comes back; old handles are stale now.
                        l.C_Finalize.unwrap()(null_mut());
                        l.C_Initialize.unwrap()(null_mut());
                    } else {
                        let mut info: CK_MECHANISM_INFO = std::mem::zeroed();
                        l.C_GetMechanismInfo.unwrap()(0, m.m.mechanism, &mut info);
                    }
                }
            }
        }
    }
    // Leave no session open for the next input: handles would pile up.
    // SAFETY: closing all sessions of slot 0 takes no pointers.
    unsafe {
        l.C_CloseAllSessions.unwrap()(0);
    }
});
