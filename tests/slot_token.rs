//! Slot and token management: `C_GetSlotList`, `C_GetSlotInfo`, `C_GetTokenInfo`,
//! `C_GetMechanismList`, `C_GetMechanismInfo`, `C_InitToken`, `C_InitPIN`, `C_SetPIN`,
//! `C_WaitForSlotEvent`, and the PIN flags of the token (the configuration allows 3 wrong PINs in
//! a row, and PINs of 4 to 255 bytes).

mod common;

use common::{SO_PIN, USER_PIN, err, pin};
use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// A slot id no slot has (the configuration has 32 slots, numbered from 0).
const NO_SUCH_SLOT: CK_SLOT_ID = 4242;

fn token_info(slot: CK_SLOT_ID) -> CK_TOKEN_INFO {
    // SAFETY: CK_TOKEN_INFO is plain data; all-zero is valid.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: a writable CK_TOKEN_INFO.
    let rv = unsafe { common::raw().C_GetTokenInfo.unwrap()(slot, &mut info) };
    assert_eq!(rv, CKR_OK, "C_GetTokenInfo");
    info
}

fn token_flags(slot: Slot) -> CK_FLAGS {
    token_info(slot.id()).flags
}

/// Asserts which of `names` are set in `flags`: exactly those in `set`.
#[track_caller]
fn assert_flags(flags: CK_FLAGS, names: &[(&str, CK_FLAGS)], set: &[CK_FLAGS]) {
    for (name, f) in names {
        assert_eq!(flags & f != 0, set.contains(f), "{name} in token flags {flags:#x}");
    }
}

const USER_PIN_FLAGS: &[(&str, CK_FLAGS)] = &[
    ("CKF_USER_PIN_COUNT_LOW", CKF_USER_PIN_COUNT_LOW),
    ("CKF_USER_PIN_FINAL_TRY", CKF_USER_PIN_FINAL_TRY),
    ("CKF_USER_PIN_LOCKED", CKF_USER_PIN_LOCKED),
];

const SO_PIN_FLAGS: &[(&str, CK_FLAGS)] = &[
    ("CKF_SO_PIN_COUNT_LOW", CKF_SO_PIN_COUNT_LOW),
    ("CKF_SO_PIN_FINAL_TRY", CKF_SO_PIN_FINAL_TRY),
    ("CKF_SO_PIN_LOCKED", CKF_SO_PIN_LOCKED),
];

fn rw_session(slot: Slot) -> Session {
    common::pkcs11().open_rw_session(slot).unwrap()
}

/// A read-write session of the named token with the SO logged in.
fn so_session(name: &str) -> (Slot, Session) {
    let slot = common::fresh_token(name);
    let s = rw_session(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    (slot, s)
}

fn raw_slot_list(present: bool, list: *mut CK_SLOT_ID, count: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `list` is null or holds `*count` slot ids; `count` is writable.
    unsafe { common::raw().C_GetSlotList.unwrap()(present as CK_BBOOL, list, count) }
}

fn raw_mechanism_list(slot: CK_SLOT_ID, list: *mut CK_MECHANISM_TYPE, count: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `list` is null or holds `*count` entries; `count` is writable.
    unsafe { common::raw().C_GetMechanismList.unwrap()(slot, list, count) }
}

fn mechanism_info(slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO, CK_RV> {
    let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    // SAFETY: a writable CK_MECHANISM_INFO.
    let rv = unsafe { common::raw().C_GetMechanismInfo.unwrap()(slot, mech, &mut info) };
    if rv == CKR_OK { Ok(info) } else { Err(rv) }
}

/// Three wrong user PINs in a row: the configured limit.
fn lock_user_pin(slot: Slot) {
    let s = rw_session(slot);
    for _ in 0..3 {
        let rv = err(s.login(UserType::User, Some(&pin("wrong-user-pin"))));
        assert!(matches!(rv, RvError::PinIncorrect | RvError::PinLocked), "{rv:?}");
    }
    assert_ne!(token_flags(slot) & CKF_USER_PIN_LOCKED, 0);
}

// ---------------------------------------------------------------------------------------------
// Slots

#[test]
fn slot_list_size_query_then_fill() {
    common::pkcs11();
    let mut count: CK_ULONG = 0;
    assert_eq!(raw_slot_list(false, null_mut(), &mut count), CKR_OK);
    assert_eq!(count, common::TOKENS.len() as CK_ULONG);
    let mut slots = vec![CK_UNAVAILABLE_INFORMATION; count as usize];
    assert_eq!(raw_slot_list(false, slots.as_mut_ptr(), &mut count), CKR_OK);
    assert_eq!(count, common::TOKENS.len() as CK_ULONG);
    let expected: Vec<CK_SLOT_ID> = common::pkcs11().get_all_slots().unwrap().iter().map(Slot::id).collect();
    assert_eq!(slots, expected);
    let mut unique = slots.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), slots.len(), "slot ids repeat: {slots:?}");
}

#[test]
fn slot_list_with_tokens_present_lists_every_slot() {
    common::pkcs11();
    let mut count: CK_ULONG = 0;
    assert_eq!(raw_slot_list(true, null_mut(), &mut count), CKR_OK);
    assert_eq!(count, common::TOKENS.len() as CK_ULONG);
}

#[test]
fn slot_list_short_buffer_is_buffer_too_small_with_the_count() {
    common::pkcs11();
    let mut slots = [CK_UNAVAILABLE_INFORMATION; 4];
    let mut count: CK_ULONG = 4;
    assert_eq!(raw_slot_list(false, slots.as_mut_ptr(), &mut count), CKR_BUFFER_TOO_SMALL);
    assert_eq!(count, common::TOKENS.len() as CK_ULONG);
}

#[test]
fn slot_list_null_count_is_arguments_bad() {
    common::pkcs11();
    // SAFETY: a null count pointer, which the library must refuse.
    let rv = unsafe { common::raw().C_GetSlotList.unwrap()(CK_FALSE, null_mut(), null_mut()) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn slot_info_reports_a_present_token_with_blank_padded_text() {
    let slot = common::slot("t02");
    // SAFETY: CK_SLOT_INFO is plain data; all-zero is valid.
    let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: a writable CK_SLOT_INFO.
    assert_eq!(unsafe { common::raw().C_GetSlotInfo.unwrap()(slot.id(), &mut info) }, CKR_OK);
    assert_ne!(info.flags & CKF_TOKEN_PRESENT, 0);
    assert_eq!(&info.manufacturerID[..10], b"kms-pkcs11");
    assert!(info.manufacturerID[10..].iter().all(|b| *b == b' '));
    assert!(!info.slotDescription.contains(&0), "{:?}", info.slotDescription);
}

#[test]
fn slot_and_token_info_null_pointers_are_arguments_bad() {
    let slot = common::slot("t03").id();
    // SAFETY: null pointers, which the library must refuse.
    unsafe {
        assert_eq!(common::raw().C_GetSlotInfo.unwrap()(slot, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(common::raw().C_GetTokenInfo.unwrap()(slot, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(
            common::raw().C_GetMechanismInfo.unwrap()(slot, CKM_AES_KEY_GEN, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            common::raw().C_GetMechanismList.unwrap()(slot, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
    }
}

#[test]
fn invalid_slot_id_is_slot_id_invalid_everywhere() {
    let l = common::raw();
    // SAFETY: all-zero is valid for these plain-data structures.
    let (mut si, mut ti): (CK_SLOT_INFO, CK_TOKEN_INFO) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    let mut mi = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    let mut count: CK_ULONG = 0;
    let mut session: CK_SESSION_HANDLE = 0;
    let mut so_pin = SO_PIN.as_bytes().to_vec();
    let mut label = [b' '; 32];
    // SAFETY: every pointer is to a live, writable value of the right type and size.
    let results = unsafe {
        [
            ("C_GetSlotInfo", l.C_GetSlotInfo.unwrap()(NO_SUCH_SLOT, &mut si)),
            ("C_GetTokenInfo", l.C_GetTokenInfo.unwrap()(NO_SUCH_SLOT, &mut ti)),
            ("C_GetMechanismList", l.C_GetMechanismList.unwrap()(NO_SUCH_SLOT, null_mut(), &mut count)),
            ("C_GetMechanismInfo", l.C_GetMechanismInfo.unwrap()(NO_SUCH_SLOT, CKM_AES_KEY_GEN, &mut mi)),
            (
                "C_InitToken",
                l.C_InitToken.unwrap()(
                    NO_SUCH_SLOT,
                    so_pin.as_mut_ptr(),
                    so_pin.len() as _,
                    label.as_mut_ptr(),
                ),
            ),
            (
                "C_OpenSession",
                l.C_OpenSession.unwrap()(NO_SUCH_SLOT, CKF_SERIAL_SESSION, null_mut(), None, &mut session),
            ),
            ("C_CloseAllSessions", l.C_CloseAllSessions.unwrap()(NO_SUCH_SLOT)),
        ]
    };
    for (name, rv) in results {
        assert_eq!(rv, CKR_SLOT_ID_INVALID, "{name}");
    }
}

#[test]
fn wait_for_slot_event_without_blocking_is_no_event() {
    common::pkcs11();
    let mut slot: CK_SLOT_ID = 0;
    // SAFETY: a writable slot id and a null reserved pointer.
    let rv = unsafe { common::raw().C_WaitForSlotEvent.unwrap()(CKF_DONT_BLOCK, &mut slot, null_mut()) };
    assert_eq!(rv, CKR_NO_EVENT);
}

// ---------------------------------------------------------------------------------------------
// Token info and C_InitToken

#[test]
fn token_flags_follow_initialization_and_init_pin() {
    let slot = common::slot("t00");
    let initialized = [
        ("CKF_TOKEN_INITIALIZED", CKF_TOKEN_INITIALIZED),
        ("CKF_USER_PIN_INITIALIZED", CKF_USER_PIN_INITIALIZED),
    ];
    assert_flags(token_flags(slot), &initialized, &[]);
    common::pkcs11().init_token(slot, &pin(SO_PIN), "t00 label").unwrap();
    assert_flags(token_flags(slot), &initialized, &[CKF_TOKEN_INITIALIZED]);
    let s = rw_session(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    assert_flags(token_flags(slot), &initialized, &[CKF_TOKEN_INITIALIZED, CKF_USER_PIN_INITIALIZED]);
}

#[test]
fn token_info_reports_label_serial_pin_lengths_and_rng() {
    let slot = common::fresh_token("t04");
    let info = token_info(slot.id());
    assert_eq!(&info.label[..3], b"t04");
    assert!(info.label[3..].iter().all(|b| *b == b' '), "{:?}", info.label);
    assert_eq!(&info.manufacturerID[..10], b"kms-pkcs11");
    let serial = String::from_utf8_lossy(&info.serialNumber).trim_end().to_string();
    assert!(!serial.is_empty());
    assert_eq!((info.ulMinPinLen, info.ulMaxPinLen), (4, 255));
    assert_ne!(info.flags & CKF_RNG, 0, "the token has a random number generator");
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
    // The serial number identifies the token: another token has another one.
    let other = token_info(common::slot("t05").id());
    assert_ne!(info.serialNumber, other.serialNumber);
}

#[test]
fn token_info_counts_this_applications_sessions() {
    let slot = common::fresh_token("t06");
    let ro = common::pkcs11().open_ro_session(slot).unwrap();
    let rw = rw_session(slot);
    let info = token_info(slot.id());
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (2, 1));
    ro.close().unwrap();
    let info = token_info(slot.id());
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (1, 1));
    let _ro = common::pkcs11().open_ro_session(slot).unwrap();
    let _rw = rw_session(slot);
    let info = token_info(slot.id());
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (3, 2));
    drop(rw);
    assert_eq!(common::close_all_sessions(slot), CKR_OK);
    let info = token_info(slot.id());
    assert_eq!((info.ulSessionCount, info.ulRwSessionCount), (0, 0));
}

#[test]
fn init_token_with_wrong_so_pin_is_pin_incorrect_and_keeps_the_token() {
    let slot = common::fresh_token("t07");
    let label = token_info(slot.id()).label;
    assert_eq!(err(common::pkcs11().init_token(slot, &pin("wrong-so-pin"), "wiped")), RvError::PinIncorrect);
    let info = token_info(slot.id());
    assert_eq!(info.label, label, "the token was relabelled");
    assert_ne!(info.flags & CKF_USER_PIN_INITIALIZED, 0, "the user PIN was wiped");
    assert_flags(info.flags, SO_PIN_FLAGS, &[CKF_SO_PIN_COUNT_LOW]);
    rw_session(slot).login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

#[test]
fn init_token_with_a_session_open_is_session_exists() {
    let slot = common::fresh_token("t08");
    let _s = common::pkcs11().open_ro_session(slot).unwrap();
    assert_eq!(err(common::pkcs11().init_token(slot, &pin(SO_PIN), "t08")), RvError::SessionExists);
}

#[test]
fn init_token_again_wipes_objects_and_the_user_pin() {
    use cryptoki::object::{Attribute, ObjectClass};
    let slot = common::fresh_token("t09");
    {
        let s = rw_session(slot);
        s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(false),
        ])
        .unwrap();
    }
    common::pkcs11().init_token(slot, &pin(SO_PIN), "t09 again").unwrap();
    let info = token_info(slot.id());
    assert_eq!(&info.label[..9], b"t09 again");
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    let s = rw_session(slot);
    assert_eq!(s.find_objects(&[]).unwrap().len(), 0);
    assert_eq!(err(s.login(UserType::User, Some(&pin(USER_PIN)))), RvError::UserPinNotInitialized);
}

// ---------------------------------------------------------------------------------------------
// PIN failures and locking

#[test]
fn wrong_user_pins_set_count_low_then_final_try_then_locked() {
    let slot = common::fresh_token("t10");
    let s = rw_session(slot);
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[]);

    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-1")))), RvError::PinIncorrect);
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[CKF_USER_PIN_COUNT_LOW]);

    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-2")))), RvError::PinIncorrect);
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY]);

    // The attempt that reaches the limit gave a wrong PIN and locked it: either code tells so.
    let third = err(s.login(UserType::User, Some(&pin("wrong-3"))));
    assert!(matches!(third, RvError::PinIncorrect | RvError::PinLocked), "{third:?}");
    assert_ne!(token_flags(slot) & CKF_USER_PIN_LOCKED, 0);

    // Locked: even the right PIN is refused.
    assert_eq!(err(s.login(UserType::User, Some(&pin(USER_PIN)))), RvError::PinLocked);
}

#[test]
fn successful_login_clears_the_failure_flags() {
    let slot = common::fresh_token("t11");
    let s = rw_session(slot);
    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-1")))), RvError::PinIncorrect);
    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-2")))), RvError::PinIncorrect);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[]);
    // The count starts again: two more wrong PINs do not lock.
    s.logout().unwrap();
    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-3")))), RvError::PinIncorrect);
    assert_eq!(err(s.login(UserType::User, Some(&pin("wrong-4")))), RvError::PinIncorrect);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

#[test]
fn wrong_so_pins_set_so_flags_and_lock_the_so() {
    let slot = common::fresh_token("t12");
    let s = rw_session(slot);
    assert_eq!(err(s.login(UserType::So, Some(&pin("wrong-so-1")))), RvError::PinIncorrect);
    assert_flags(token_flags(slot), SO_PIN_FLAGS, &[CKF_SO_PIN_COUNT_LOW]);
    assert_eq!(err(s.login(UserType::So, Some(&pin("wrong-so-2")))), RvError::PinIncorrect);
    assert_flags(token_flags(slot), SO_PIN_FLAGS, &[CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY]);
    let third = err(s.login(UserType::So, Some(&pin("wrong-so-3"))));
    assert!(matches!(third, RvError::PinIncorrect | RvError::PinLocked), "{third:?}");
    assert_ne!(token_flags(slot) & CKF_SO_PIN_LOCKED, 0);
    assert_eq!(err(s.login(UserType::So, Some(&pin(SO_PIN)))), RvError::PinLocked);
    // The user PIN is separate and still works.
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[]);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // A locked SO PIN cannot re-initialize the token either.
    drop(s);
    assert_eq!(err(common::pkcs11().init_token(slot, &pin(SO_PIN), "t12")), RvError::PinLocked);
}

#[test]
fn init_pin_by_the_so_unlocks_a_locked_user_pin() {
    let slot = common::fresh_token("t13");
    lock_user_pin(slot);
    let s = rw_session(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin("new-user-pin")).unwrap();
    s.logout().unwrap();
    assert_flags(token_flags(slot), USER_PIN_FLAGS, &[]);
    s.login(UserType::User, Some(&pin("new-user-pin"))).unwrap();
}

#[test]
fn init_pin_needs_the_so() {
    // 2.40 §5.5 C_InitPIN: "can only be called in the "R/W SO Functions" state. An attempt to call
    // it from a session in any other state fails with error CKR_USER_NOT_LOGGED_IN."
    let slot = common::fresh_token("t14");
    let s = rw_session(slot);
    let r = common::pkcs11().open_ro_session(slot).unwrap();
    assert_eq!(err(s.init_pin(&pin("another-pin"))), RvError::UserNotLoggedIn, "R/W public");
    assert_eq!(err(r.init_pin(&pin("another-pin"))), RvError::UserNotLoggedIn, "R/O public");
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.init_pin(&pin("another-pin"))), RvError::UserNotLoggedIn, "R/W user");
    assert_eq!(err(r.init_pin(&pin("another-pin"))), RvError::UserNotLoggedIn, "R/O user");
}

// ---------------------------------------------------------------------------------------------
// C_SetPIN

#[test]
fn set_pin_changes_the_user_pin() {
    let slot = common::fresh_token("t15");
    let s = rw_session(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.set_pin(&pin(USER_PIN), &pin("changed-user-pin")).unwrap();
    s.logout().unwrap();
    assert_eq!(err(s.login(UserType::User, Some(&pin(USER_PIN)))), RvError::PinIncorrect);
    s.login(UserType::User, Some(&pin("changed-user-pin"))).unwrap();
}

#[test]
fn set_pin_in_a_public_session_changes_the_user_pin() {
    // 2.40 §5.5 C_SetPIN: in the "R/W Public Session" state it modifies the normal user's PIN.
    let slot = common::fresh_token("t16");
    let s = rw_session(slot);
    s.set_pin(&pin(USER_PIN), &pin("public-set-pin")).unwrap();
    s.login(UserType::User, Some(&pin("public-set-pin"))).unwrap();
}

#[test]
fn set_pin_changes_the_so_pin() {
    let (slot, s) = so_session("t17");
    s.set_pin(&pin(SO_PIN), &pin("changed-so-pin")).unwrap();
    s.logout().unwrap();
    assert_eq!(err(s.login(UserType::So, Some(&pin(SO_PIN)))), RvError::PinIncorrect);
    s.login(UserType::So, Some(&pin("changed-so-pin"))).unwrap();
    drop(s);
    // The new SO PIN is the one C_InitToken checks.
    assert_eq!(err(common::pkcs11().init_token(slot, &pin(SO_PIN), "t17")), RvError::PinIncorrect);
    common::pkcs11().init_token(slot, &pin("changed-so-pin"), "t17").unwrap();
}

#[test]
fn set_pin_with_wrong_old_pin_is_pin_incorrect() {
    let slot = common::fresh_token("t18");
    let s = rw_session(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.set_pin(&pin("not-the-pin"), &pin("whatever-pin"))), RvError::PinIncorrect);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
}

#[test]
fn set_pin_in_a_read_only_session_is_session_read_only() {
    let slot = common::fresh_token("t19");
    let s = common::pkcs11().open_ro_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.set_pin(&pin(USER_PIN), &pin("changed-user-pin"))), RvError::SessionReadOnly);
}

#[test]
fn set_pin_and_init_pin_null_pointers_are_arguments_bad() {
    let (_slot, s) = so_session("t20");
    let h = common::raw_handle(&s);
    let mut old = SO_PIN.as_bytes().to_vec();
    // SAFETY: null PIN pointers with non-zero lengths, which the library must refuse.
    unsafe {
        assert_eq!(common::raw().C_InitPIN.unwrap()(h, null_mut(), 8), CKR_ARGUMENTS_BAD);
        assert_eq!(
            common::raw().C_SetPIN.unwrap()(h, old.as_mut_ptr(), old.len() as _, null_mut(), 8),
            CKR_ARGUMENTS_BAD
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PIN lengths (4 to 255 bytes in the test configuration)

#[test]
fn pin_shorter_than_the_minimum_is_pin_len_range() {
    let slot = common::fresh_token("t21");
    assert_eq!(err(common::pkcs11().init_token(slot, &pin("abc"), "t21")), RvError::PinLenRange);
    let s = rw_session(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(err(s.init_pin(&pin("abc"))), RvError::PinLenRange);
    assert_eq!(err(s.set_pin(&pin(SO_PIN), &pin("abc"))), RvError::PinLenRange);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.set_pin(&pin(USER_PIN), &pin("abc"))), RvError::PinLenRange);
}

#[test]
fn pin_longer_than_the_maximum_is_pin_len_range() {
    let slot = common::fresh_token("t22");
    let long = "x".repeat(256);
    let s = rw_session(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(err(s.init_pin(&pin(&long))), RvError::PinLenRange);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.set_pin(&pin(USER_PIN), &pin(&long))), RvError::PinLenRange);
}

#[test]
fn pins_of_the_minimum_and_maximum_length_are_accepted() {
    let slot = common::fresh_token("t23");
    let longest = "y".repeat(255);
    let s = rw_session(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.set_pin(&pin(USER_PIN), &pin("1234")).unwrap();
    s.set_pin(&pin("1234"), &pin(&longest)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(&longest))).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Mechanisms

#[test]
fn mechanism_list_size_query_then_fill() {
    let slot = common::slot("t24").id();
    let mut count: CK_ULONG = 0;
    assert_eq!(raw_mechanism_list(slot, null_mut(), &mut count), CKR_OK);
    assert!(count > 0);
    let mut mechs = vec![CK_UNAVAILABLE_INFORMATION; count as usize];
    assert_eq!(raw_mechanism_list(slot, mechs.as_mut_ptr(), &mut count), CKR_OK);
    assert_eq!(count as usize, mechs.len());
    assert!(mechs.contains(&CKM_AES_KEY_GEN), "{mechs:x?}");
    assert!(!mechs.contains(&CK_UNAVAILABLE_INFORMATION));
    for m in mechs {
        assert!(mechanism_info(slot, m).is_ok(), "C_GetMechanismInfo({m:#x})");
    }
}

#[test]
fn mechanism_list_short_buffer_is_buffer_too_small_with_the_count() {
    let slot = common::slot("t25").id();
    let mut count: CK_ULONG = 0;
    assert_eq!(raw_mechanism_list(slot, null_mut(), &mut count), CKR_OK);
    let needed = count;
    let mut mechs = vec![0; needed as usize - 1];
    count = needed - 1;
    assert_eq!(raw_mechanism_list(slot, mechs.as_mut_ptr(), &mut count), CKR_BUFFER_TOO_SMALL);
    assert_eq!(count, needed);
}

#[test]
fn aes_key_gen_info_gives_key_sizes_in_bytes() {
    let slot = common::slot("t26").id();
    let info = mechanism_info(slot, CKM_AES_KEY_GEN).unwrap();
    // Current Mechanisms 3.0, AES: key sizes are given in bytes.
    assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (16, 32));
    assert_ne!(info.flags & CKF_GENERATE, 0);
}

#[test]
fn unknown_mechanism_info_is_mechanism_invalid() {
    let slot = common::slot("t27").id();
    assert_eq!(mechanism_info(slot, CKM_VENDOR_DEFINED + 0x4242).err(), Some(CKR_MECHANISM_INVALID));
    assert_eq!(mechanism_info(slot, CKM_DES_ECB).err(), Some(CKR_MECHANISM_INVALID));
}
