//! The library's hot paths through the C ABI, as an application drives them: AES-GCM of 1 KiB,
//! ECDSA P-256 signing of a digest, RSA-2048 PKCS#1 v1.5 signing of 1 KiB, SM2 signing of a
//! digest, SM4-CBC of 1 KiB and KMS envelope encryption of 1 KiB. Each iteration is one
//! `C_*Init` plus the two-call `C_Encrypt`/`C_Sign`, as the `cryptoki` crate makes it.

use criterion::{Criterion, criterion_group, criterion_main};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType};
use kms_pkcs11::vendor::{
    CKK_SM2, CKK_SM4, CKM_KMS_ENVELOPE, CKM_SM2, CKM_SM2_KEY_PAIR_GEN, CKM_SM4_CBC, CKM_SM4_KEY_GEN,
};
use std::hint::black_box;

#[path = "../tests/common/mod.rs"]
mod common;

fn hot_paths(c: &mut Criterion) {
    let session = common::user_session("t00");
    let aes = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(true), Attribute::ValueLen(32.into()), Attribute::Encrypt(true)],
        )
        .expect("AES key");
    let (_, p256) = session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .expect("P-256 key pair");
    let (_, rsa) = session
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::Token(true), Attribute::ModulusBits(2048.into())],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .expect("RSA key pair");

    let vendor = |m| MechanismType::new_vendor_defined(m).expect("vendor mechanism");
    let (_, sm2) = session
        .generate_key_pair(
            &Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(vendor(CKM_SM2_KEY_PAIR_GEN), None)),
            &[
                Attribute::Token(true),
                Attribute::KeyType(KeyType::new_vendor_defined(CKK_SM2).expect("key type")),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .expect("SM2 key pair");
    let sm4 = session
        .generate_key(
            &Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(vendor(CKM_SM4_KEY_GEN), None)),
            &[
                Attribute::Token(true),
                Attribute::KeyType(KeyType::new_vendor_defined(CKK_SM4).expect("key type")),
                Attribute::Encrypt(true),
            ],
        )
        .expect("SM4 key");

    let data = vec![0x5au8; 1024];
    let aad = [0u8; 32];
    let mut counter = 0u64;
    c.bench_function("aes_gcm_encrypt_1k", |b| {
        b.iter(|| {
            counter += 1;
            let mut iv = [0u8; 12];
            iv[..8].copy_from_slice(&counter.to_be_bytes());
            let params = GcmParams::new(&mut iv, &aad, 128.into()).expect("params");
            black_box(session.encrypt(&Mechanism::AesGcm(params), aes, &data).expect("encrypt"))
        })
    });
    let digest = [0x11u8; 32];
    c.bench_function("ecdsa_p256_sign", |b| {
        b.iter(|| black_box(session.sign(&Mechanism::Ecdsa, p256, &digest).expect("sign")))
    });
    c.bench_function("rsa2048_sha256_pkcs1_sign_1k", |b| {
        b.iter(|| black_box(session.sign(&Mechanism::Sha256RsaPkcs, rsa, &data).expect("sign")))
    });
    let sm2_mech = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(vendor(CKM_SM2), None));
    c.bench_function("sm2_sign", |b| {
        b.iter(|| black_box(session.sign(&sm2_mech, sm2, &digest).expect("sign")))
    });
    let iv = [0x24u8; 16];
    let sm4_mech = Mechanism::VendorDefined(VendorDefinedMechanism::new(vendor(CKM_SM4_CBC), Some(&iv)));
    c.bench_function("sm4_cbc_encrypt_1k", |b| {
        b.iter(|| black_box(session.encrypt(&sm4_mech, sm4, &data).expect("encrypt")))
    });
    // KMS Encrypt: a blob of 1 KiB under the CMK's primary version, with an encryption context.
    let context: &[u8; 15] = b"{\"app\":\"bench\"}";
    let envelope =
        Mechanism::VendorDefined(VendorDefinedMechanism::new(vendor(CKM_KMS_ENVELOPE), Some(context)));
    c.bench_function("kms_envelope_encrypt_1k", |b| {
        b.iter(|| black_box(session.encrypt(&envelope, aes, &data).expect("encrypt")))
    });
}

/// The audit writer's cost per record, off the call path: the JSON body and its link in the
/// HMAC chain. It bounds how many audited calls a second one token sustains.
fn audit_record(c: &mut Criterion) {
    use kms_pkcs11::kms::audit::chain::{ChainKey, Link};
    use kms_pkcs11::kms::audit::record::{Event, Origin};
    let key = ChainKey::new(&zeroize::Zeroizing::new(vec![9; 32]));
    let origin = Origin::new("kms", 4242, 1000);
    let event = Event {
        time: kms_pkcs11::kms::audit::record::EventTime::Instant(std::time::Instant::now()),
        name: "Encrypt",
        function: "C_Encrypt",
        mechanism: Some(cryptoki_sys::CKM_AES_GCM),
        key_id: "2383710f-6de3-4da2-bd9d-164afbbca523".into(),
        key_version_id: "088c651e-198c-4b91-bae3-e39d41502bf7".into(),
        principal: "USER",
        result: "CKR_OK",
        error_code: None,
        latency_us: 1,
    };
    let mut out = Vec::with_capacity(1024);
    let mut link = Link::START;
    c.bench_function("audit_record_seal", |b| {
        b.iter(|| {
            out.clear();
            link = key.seal_with(link, &mut out, |o| {
                event.write_body("c1b62083-465d-43a4-9c09-35746a59ba88", &origin, o)
            });
            black_box(&out);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = hot_paths, audit_record
}
criterion_main!(benches);
