//! Several threads, each with its own session on one token, signing (ECDSA P-256, RSA-2048),
//! MACing and encrypting (AES-GCM) at the same time with shared keys; every result is checked,
//! in the thread and again afterwards against single-threaded computations.
//!
//! Base 3.0 §5.1 (C_Initialize with CKF_OS_LOCKING_OK, which the harness passes) and §5.6: the
//! library may be called from several threads at once, each session being used by one thread.

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use support::*;

const THREADS: usize = 8;
const ROUNDS: usize = 32;

/// Keys shared by every thread: session objects of the setup session, visible to every session
/// of the token.
#[derive(Clone, Copy)]
struct Keys {
    ec_public: ObjectHandle,
    ec_private: ObjectHandle,
    rsa_public: ObjectHandle,
    rsa_private: ObjectHandle,
    aes: ObjectHandle,
    hmac: ObjectHandle,
}

fn make_keys(s: &Session) -> Keys {
    let (ec_public, ec_private) = ec_pair(s, P256, &[]);
    let (rsa_public, rsa_private) = rsa_pair(s, 2048, &[]);
    let aes = gen_aes(s, 32, &[]);
    let hmac = secret_key(s, cryptoki::object::KeyType::GENERIC_SECRET, &pattern(32, 1), &[]);
    Keys { ec_public, ec_private, rsa_public, rsa_private, aes, hmac }
}

/// A session of its own for a worker thread; the user is logged in on the token already.
fn worker_session(slot: Slot) -> Session {
    common::pkcs11().open_rw_session(slot).expect("worker session")
}

fn message(thread: usize, round: usize) -> Vec<u8> {
    format!("thread {thread} round {round}: {}", "x".repeat(thread * 7 + round)).into_bytes()
}

/// A GCM IV unique to one thread and round.
fn iv(thread: usize, round: usize) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&(thread as u64).to_be_bytes());
    iv[8..].copy_from_slice(&(round as u32).to_be_bytes());
    iv
}

fn gcm_encrypt(s: &Session, key: ObjectHandle, iv: [u8; 12], pt: &[u8]) -> Vec<u8> {
    let mut iv = iv;
    s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"stress", 128.into()).unwrap()), key, pt).unwrap()
}

fn gcm_decrypt(s: &Session, key: ObjectHandle, iv: [u8; 12], ct: &[u8]) -> Vec<u8> {
    let mut iv = iv;
    s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"stress", 128.into()).unwrap()), key, ct).unwrap()
}

/// What one round of one thread produced.
struct Round {
    thread: usize,
    round: usize,
    ecdsa: Vec<u8>,
    rsa: Vec<u8>,
    ciphertext: Vec<u8>,
}

#[test]
fn threads_sign_and_encrypt_concurrently_in_their_own_sessions() {
    let setup = common::user_session("t00");
    let keys = make_keys(&setup);
    let slot = common::slot("t00");
    let results: Vec<Round> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let s = worker_session(slot);
                    let mut out = Vec::new();
                    for round in 0..ROUNDS {
                        let msg = message(thread, round);
                        let ecdsa = s.sign(&Mechanism::EcdsaSha256, keys.ec_private, &msg).unwrap();
                        s.verify(&Mechanism::EcdsaSha256, keys.ec_public, &msg, &ecdsa).unwrap();
                        let rsa = s.sign(&Mechanism::Sha256RsaPkcs, keys.rsa_private, &msg).unwrap();
                        s.verify(&Mechanism::Sha256RsaPkcs, keys.rsa_public, &msg, &rsa).unwrap();
                        let ciphertext = gcm_encrypt(&s, keys.aes, iv(thread, round), &msg);
                        assert_eq!(gcm_decrypt(&s, keys.aes, iv(thread, round), &ciphertext), msg);
                        out.push(Round { thread, round, ecdsa, rsa, ciphertext });
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker thread")).collect()
    });
    assert_eq!(results.len(), THREADS * ROUNDS);
    // Checked again on one thread: PKCS#1 v1.5 and GCM are deterministic, so each result must be
    // exactly what a single-threaded call gives; ECDSA signatures must verify.
    for r in &results {
        let msg = message(r.thread, r.round);
        let what = format!("thread {} round {}", r.thread, r.round);
        setup
            .verify(&Mechanism::EcdsaSha256, keys.ec_public, &msg, &r.ecdsa)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            r.rsa,
            setup.sign(&Mechanism::Sha256RsaPkcs, keys.rsa_private, &msg).unwrap(),
            "{what}: RSA"
        );
        assert_eq!(r.ciphertext, gcm_encrypt(&setup, keys.aes, iv(r.thread, r.round), &msg), "{what}: GCM");
    }
}

/// What one thread's interleaved operations produced: (thread, HMAC, CBC_PAD ciphertext,
/// SHA-512 digest).
type Interleaved = (usize, Vec<u8>, Vec<u8>, Vec<u8>);

/// Multi-part operations of different sessions interleave on the token without mixing state.
#[test]
fn interleaved_multi_part_operations_in_concurrent_sessions_stay_apart() {
    let setup = common::user_session("t01");
    let keys = make_keys(&setup);
    let slot = common::slot("t01");
    let results: Vec<Interleaved> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let s = worker_session(slot);
                    let msg = message(thread, 99);
                    let mut out = Vec::new();
                    for _ in 0..ROUNDS {
                        // Three operations active at once in this session, fed in small parts.
                        assert_rv(sign_init(&s, &Mech::new(CKM_SHA256_HMAC), keys.hmac), CKR_OK, "HMAC init");
                        assert_rv(
                            encrypt_init(&s, &Mech::bytes(CKM_AES_CBC_PAD, &[thread as u8; 16]), keys.aes),
                            CKR_OK,
                            "CBC init",
                        );
                        assert_rv(digest_init(&s, &Mech::new(CKM_SHA512)), CKR_OK, "digest init");
                        let mut ct = Vec::new();
                        for part in msg.chunks(5) {
                            assert_rv(sign_update(&s, part), CKR_OK, "HMAC update");
                            ct.extend(encrypt_update(&s, part).unwrap());
                            assert_rv(digest_update(&s, part), CKR_OK, "digest update");
                        }
                        ct.extend(encrypt_final(&s).unwrap());
                        out.push((thread, sign_final(&s).unwrap(), ct, digest_final(&s).unwrap()));
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker thread")).collect()
    });
    assert_eq!(results.len(), THREADS * ROUNDS);
    for (thread, mac, ct, digest) in results {
        let msg = message(thread, 99);
        assert_eq!(
            mac,
            setup.sign(&Mechanism::Sha256Hmac, keys.hmac, &msg).unwrap(),
            "thread {thread}: HMAC"
        );
        assert_eq!(
            ct,
            setup.encrypt(&Mechanism::AesCbcPad([thread as u8; 16]), keys.aes, &msg).unwrap(),
            "thread {thread}: CBC_PAD"
        );
        assert_eq!(digest, setup.digest(&Mechanism::Sha512, &msg).unwrap(), "thread {thread}: SHA-512");
    }
}

/// Threads create keys in their own sessions while others use theirs: every handle is distinct
/// and names the key its creator made.
#[test]
fn concurrent_key_creation_gives_distinct_working_handles() {
    let setup = common::user_session("t02");
    let slot = common::slot("t02");
    let made: Vec<(Vec<u8>, ObjectHandle, Vec<u8>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let s = worker_session(slot);
                    let mut out = Vec::new();
                    for round in 0..ROUNDS {
                        let value = pattern(16, (thread * ROUNDS + round) as u8);
                        let k = aes_key(&s, &value);
                        let ct = s.encrypt(&Mechanism::AesEcb, k, &[0; 16]).unwrap();
                        out.push((value, k, ct));
                    }
                    // The session stays open until every key has been checked below.
                    (out, s)
                })
            })
            .collect();
        let joined: Vec<_> = workers.into_iter().map(|w| w.join().expect("worker thread")).collect();
        let mut handles: Vec<CK_OBJECT_HANDLE> =
            joined.iter().flat_map(|(o, _)| o.iter().map(|(_, k, _)| k.handle())).collect();
        handles.sort_unstable();
        handles.dedup();
        assert_eq!(handles.len(), THREADS * ROUNDS, "handles are distinct");
        joined
            .into_iter()
            .flat_map(|(o, s)| {
                let checked: Vec<_> = o
                    .into_iter()
                    .map(|(value, k, ct)| {
                        // Another session of the token sees the same key behind the handle.
                        assert_eq!(setup.encrypt(&Mechanism::AesEcb, k, &[0; 16]).unwrap(), ct);
                        (value, k, ct)
                    })
                    .collect();
                drop(s);
                checked
            })
            .collect()
    });
    for (value, _, ct) in made {
        let copy = aes_key(&setup, &value);
        assert_eq!(
            setup.encrypt(&Mechanism::AesEcb, copy, &[0; 16]).unwrap(),
            ct,
            "the key holds its creator's value"
        );
    }
}
