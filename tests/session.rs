//! Session management: `C_OpenSession`, `C_CloseSession`, `C_CloseAllSessions`,
//! `C_GetSessionInfo`, `C_Login`, `C_Logout`, `C_SessionCancel`, and the session handle checks
//! of every function that takes one.

mod common;

use common::{SO_PIN, USER_PIN, err, pin, ro, rw};
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki_sys::*;
use std::ptr::null_mut;
use std::sync::OnceLock;

fn state(s: &Session) -> SessionState {
    s.get_session_info().unwrap().session_state()
}

fn raw_open(slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE, CK_RV> {
    let mut h: CK_SESSION_HANDLE = 0;
    // SAFETY: a writable session handle; no notification callback.
    let rv = unsafe { common::raw().C_OpenSession.unwrap()(slot, flags, null_mut(), None, &mut h) };
    if rv == CKR_OK { Ok(h) } else { Err(rv) }
}

fn raw_session_info(h: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO, CK_RV> {
    let mut info = CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    // SAFETY: a writable CK_SESSION_INFO.
    let rv = unsafe { common::raw().C_GetSessionInfo.unwrap()(h, &mut info) };
    if rv == CKR_OK { Ok(info) } else { Err(rv) }
}

fn raw_login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p: &str) -> CK_RV {
    let mut p = p.as_bytes().to_vec();
    // SAFETY: the PIN buffer and its length.
    unsafe { common::raw().C_Login.unwrap()(h, user, p.as_mut_ptr(), p.len() as CK_ULONG) }
}

/// The 3.0 function list, for `C_SessionCancel`.
fn list_3_0() -> &'static CK_FUNCTION_LIST_3_0 {
    static LIST: OnceLock<usize> = OnceLock::new();
    let addr = *LIST.get_or_init(|| {
        common::pkcs11();
        type GetInterface = unsafe extern "C" fn(
            *mut CK_UTF8CHAR,
            *mut CK_VERSION,
            *mut *mut CK_INTERFACE,
            CK_FLAGS,
        ) -> CK_RV;
        let mut name = b"PKCS 11\0".to_vec();
        let mut version = CK_VERSION { major: 3, minor: 0 };
        let mut interface: *mut CK_INTERFACE = null_mut();
        // SAFETY: C_GetInterface has this signature; the library stays loaded (forgotten, never
        // closed), and the interface it returns points to a static CK_FUNCTION_LIST_3_0.
        unsafe {
            let lib = libloading::Library::new(common::module_path()).expect("dlopen");
            let get = *lib.get::<GetInterface>(b"C_GetInterface").expect("C_GetInterface");
            std::mem::forget(lib);
            assert_eq!(get(name.as_mut_ptr(), &mut version, &mut interface, 0), CKR_OK);
            (*interface).pFunctionList as usize
        }
    });
    // SAFETY: the static list of the loaded library.
    unsafe { &*(addr as *const CK_FUNCTION_LIST_3_0) }
}

/// Calls every session function with handle `h` and otherwise valid arguments.
fn calls_with_session(h: CK_SESSION_HANDLE) -> Vec<(&'static str, CK_RV)> {
    let l = common::raw();
    let mut user_pin = USER_PIN.as_bytes().to_vec();
    let pin_len = user_pin.len() as CK_ULONG;
    let p = user_pin.as_mut_ptr();
    let mut class = CKO_DATA.to_ne_bytes();
    let mut tpl = [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_mut_ptr().cast(), ulValueLen: 8 }];
    let mut label_query = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: null_mut(), ulValueLen: 0 }];
    let mut digest = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
    let mut ecb = CK_MECHANISM { mechanism: CKM_AES_ECB, pParameter: null_mut(), ulParameterLen: 0 };
    let mut keygen = CK_MECHANISM { mechanism: CKM_AES_KEY_GEN, pParameter: null_mut(), ulParameterLen: 0 };
    let mut value_len = 16u64.to_ne_bytes();
    let mut gen_tpl =
        [CK_ATTRIBUTE { type_: CKA_VALUE_LEN, pValue: value_len.as_mut_ptr().cast(), ulValueLen: 8 }];
    let (mut object, mut size, mut found, mut len) = (0, 0, 0, 0);
    let mut handles = [0; 4];
    let mut buf = [0u8; 64];
    let mut si = CK_SESSION_INFO { slotID: 0, state: 0, flags: 0, ulDeviceError: 0 };
    // SAFETY: every pointer is to a live value of the right type and size.
    unsafe {
        vec![
            ("C_GetSessionInfo", l.C_GetSessionInfo.unwrap()(h, &mut si)),
            ("C_Login", l.C_Login.unwrap()(h, CKU_USER, p, pin_len)),
            ("C_Logout", l.C_Logout.unwrap()(h)),
            ("C_InitPIN", l.C_InitPIN.unwrap()(h, p, pin_len)),
            ("C_SetPIN", l.C_SetPIN.unwrap()(h, p, pin_len, p, pin_len)),
            ("C_CreateObject", l.C_CreateObject.unwrap()(h, tpl.as_mut_ptr(), 1, &mut object)),
            ("C_CopyObject", l.C_CopyObject.unwrap()(h, 1, null_mut(), 0, &mut object)),
            ("C_DestroyObject", l.C_DestroyObject.unwrap()(h, 1)),
            ("C_GetObjectSize", l.C_GetObjectSize.unwrap()(h, 1, &mut size)),
            ("C_GetAttributeValue", l.C_GetAttributeValue.unwrap()(h, 1, label_query.as_mut_ptr(), 1)),
            ("C_SetAttributeValue", l.C_SetAttributeValue.unwrap()(h, 1, tpl.as_mut_ptr(), 1)),
            ("C_FindObjectsInit", l.C_FindObjectsInit.unwrap()(h, tpl.as_mut_ptr(), 1)),
            ("C_FindObjects", l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 4, &mut found)),
            ("C_FindObjectsFinal", l.C_FindObjectsFinal.unwrap()(h)),
            ("C_DigestInit", l.C_DigestInit.unwrap()(h, &mut digest)),
            ("C_EncryptInit", l.C_EncryptInit.unwrap()(h, &mut ecb, 1)),
            ("C_DecryptInit", l.C_DecryptInit.unwrap()(h, &mut ecb, 1)),
            ("C_GenerateKey", l.C_GenerateKey.unwrap()(h, &mut keygen, gen_tpl.as_mut_ptr(), 1, &mut object)),
            ("C_GenerateRandom", l.C_GenerateRandom.unwrap()(h, buf.as_mut_ptr(), 16)),
            ("C_SeedRandom", l.C_SeedRandom.unwrap()(h, buf.as_mut_ptr(), 16)),
            ("C_GetOperationState", l.C_GetOperationState.unwrap()(h, null_mut(), &mut len)),
            ("C_SessionCancel", list_3_0().C_SessionCancel.unwrap()(h, CKF_FIND_OBJECTS)),
            ("C_CloseSession", l.C_CloseSession.unwrap()(h)),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Opening and closing

#[test]
fn open_and_close_a_session() {
    let slot = common::fresh_token("t00");
    let h = raw_open(slot.id(), CKF_SERIAL_SESSION).unwrap();
    assert_eq!(raw_session_info(h).unwrap().slotID, slot.id());
    // SAFETY: no pointers.
    assert_eq!(unsafe { common::raw().C_CloseSession.unwrap()(h) }, CKR_OK);
    assert_eq!(raw_session_info(h).err(), Some(CKR_SESSION_HANDLE_INVALID));
    // SAFETY: no pointers.
    assert_eq!(unsafe { common::raw().C_CloseSession.unwrap()(h) }, CKR_SESSION_HANDLE_INVALID);
}

#[test]
fn open_session_without_the_serial_flag_is_session_parallel_not_supported() {
    // 2.40 §5.6 C_OpenSession: CKF_SERIAL_SESSION must always be set.
    let slot = common::fresh_token("t01");
    assert_eq!(raw_open(slot.id(), 0).err(), Some(CKR_SESSION_PARALLEL_NOT_SUPPORTED));
    assert_eq!(raw_open(slot.id(), CKF_RW_SESSION).err(), Some(CKR_SESSION_PARALLEL_NOT_SUPPORTED));
}

#[test]
fn open_session_null_handle_pointer_is_arguments_bad() {
    let slot = common::fresh_token("t02");
    // SAFETY: a null handle pointer, which the library must refuse.
    let rv = unsafe {
        common::raw().C_OpenSession.unwrap()(slot.id(), CKF_SERIAL_SESSION, null_mut(), None, null_mut())
    };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn get_session_info_null_pointer_is_arguments_bad() {
    let s = ro(common::fresh_token("t03"));
    // SAFETY: a null info pointer, which the library must refuse.
    let rv = unsafe { common::raw().C_GetSessionInfo.unwrap()(common::raw_handle(&s), null_mut()) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn session_info_reports_flags_and_public_states() {
    let slot = common::fresh_token("t04");
    let r = raw_session_info(common::raw_handle(&ro(slot))).unwrap();
    assert_eq!((r.slotID, r.state, r.flags), (slot.id(), CKS_RO_PUBLIC_SESSION, CKF_SERIAL_SESSION));
    let w = raw_session_info(common::raw_handle(&rw(slot))).unwrap();
    assert_eq!(
        (w.slotID, w.state, w.flags),
        (slot.id(), CKS_RW_PUBLIC_SESSION, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    );
}

#[test]
fn user_login_puts_every_session_of_the_token_in_user_state() {
    let slot = common::fresh_token("t05");
    let (r, w) = (ro(slot), rw(slot));
    r.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&r), SessionState::RoUser);
    assert_eq!(state(&w), SessionState::RwUser);
    // A session opened later starts logged in too.
    assert_eq!(state(&ro(slot)), SessionState::RoUser);
    w.logout().unwrap();
    assert_eq!(state(&r), SessionState::RoPublic);
    assert_eq!(state(&w), SessionState::RwPublic);
}

#[test]
fn so_login_puts_sessions_in_so_state() {
    let slot = common::fresh_token("t06");
    let (a, b) = (rw(slot), rw(slot));
    a.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(state(&a), SessionState::RwSecurityOfficer);
    assert_eq!(state(&b), SessionState::RwSecurityOfficer);
    b.logout().unwrap();
    assert_eq!(state(&a), SessionState::RwPublic);
}

#[test]
fn so_login_with_a_read_only_session_open_is_session_read_only_exists() {
    let slot = common::fresh_token("t07");
    let r = ro(slot);
    let w = rw(slot);
    assert_eq!(err(w.login(UserType::So, Some(&pin(SO_PIN)))), RvError::SessionReadOnlyExists);
    assert_eq!(err(r.login(UserType::So, Some(&pin(SO_PIN)))), RvError::SessionReadOnlyExists);
    assert_eq!(state(&w), SessionState::RwPublic);
    // Once the read-only session is closed, the SO may log in.
    r.close().unwrap();
    w.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(state(&w), SessionState::RwSecurityOfficer);
}

#[test]
fn read_only_session_while_so_is_logged_in_is_session_read_write_so_exists() {
    let slot = common::fresh_token("t08");
    let w = rw(slot);
    w.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(raw_open(slot.id(), CKF_SERIAL_SESSION).err(), Some(CKR_SESSION_READ_WRITE_SO_EXISTS));
    // A read-write one is fine.
    assert_eq!(state(&rw(slot)), SessionState::RwSecurityOfficer);
}

// ---------------------------------------------------------------------------------------------
// Login and logout

#[test]
fn user_login_twice_is_user_already_logged_in() {
    let slot = common::fresh_token("t09");
    let (a, b) = (rw(slot), ro(slot));
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(a.login(UserType::User, Some(&pin(USER_PIN)))), RvError::UserAlreadyLoggedIn);
    // The login belongs to the token: another session of it is logged in already.
    assert_eq!(err(b.login(UserType::User, Some(&pin(USER_PIN)))), RvError::UserAlreadyLoggedIn);
}

#[test]
fn so_login_twice_is_user_already_logged_in() {
    let slot = common::fresh_token("t10");
    let s = rw(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(err(s.login(UserType::So, Some(&pin(SO_PIN)))), RvError::UserAlreadyLoggedIn);
}

#[test]
fn so_login_while_the_user_is_logged_in_is_user_another_already_logged_in() {
    let slot = common::fresh_token("t11");
    let s = rw(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(err(s.login(UserType::So, Some(&pin(SO_PIN)))), RvError::UserAnotherAlreadyLoggedIn);
    assert_eq!(state(&s), SessionState::RwUser);
}

#[test]
fn user_login_while_the_so_is_logged_in_is_user_another_already_logged_in() {
    let slot = common::fresh_token("t12");
    let s = rw(slot);
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(err(s.login(UserType::User, Some(&pin(USER_PIN)))), RvError::UserAnotherAlreadyLoggedIn);
    assert_eq!(state(&s), SessionState::RwSecurityOfficer);
}

#[test]
fn logout_when_not_logged_in_is_user_not_logged_in() {
    let slot = common::fresh_token("t13");
    let s = rw(slot);
    assert_eq!(err(s.logout()), RvError::UserNotLoggedIn);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.logout().unwrap();
    assert_eq!(err(s.logout()), RvError::UserNotLoggedIn);
}

#[test]
fn login_with_an_unknown_user_type_is_user_type_invalid() {
    let s = rw(common::fresh_token("t14"));
    assert_eq!(raw_login(common::raw_handle(&s), 7, USER_PIN), CKR_USER_TYPE_INVALID);
    assert_eq!(state(&s), SessionState::RwPublic);
}

#[test]
fn login_with_a_null_pin_is_arguments_bad() {
    let s = rw(common::fresh_token("t15"));
    // SAFETY: a null PIN with a length, which the library must refuse.
    let rv = unsafe { common::raw().C_Login.unwrap()(common::raw_handle(&s), CKU_USER, null_mut(), 8) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn user_login_before_init_pin_is_user_pin_not_initialized() {
    let slot = common::slot("t16");
    common::pkcs11().init_token(slot, &pin(SO_PIN), "t16").unwrap();
    let s = rw(slot);
    assert_eq!(err(s.login(UserType::User, Some(&pin(USER_PIN)))), RvError::UserPinNotInitialized);
}

#[test]
fn context_specific_login_without_an_operation_is_operation_not_initialized() {
    // 3.0 C_Login: CKU_CONTEXT_SPECIFIC outside an operation that needs it.
    let s = rw(common::fresh_token("t17"));
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(
        raw_login(common::raw_handle(&s), CKU_CONTEXT_SPECIFIC, USER_PIN),
        CKR_OPERATION_NOT_INITIALIZED
    );
}

#[test]
fn login_on_one_token_leaves_other_tokens_public() {
    let (a, b) = (common::fresh_token("t18"), common::fresh_token("t19"));
    let sa = rw(a);
    let sb = rw(b);
    sa.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(state(&sb), SessionState::RwPublic);
}

// ---------------------------------------------------------------------------------------------
// Closing sessions and the login

#[test]
fn close_all_sessions_closes_every_session_and_logs_out() {
    let slot = common::fresh_token("t20");
    let (a, b) = (rw(slot), ro(slot));
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(common::close_all_sessions(slot), CKR_OK);
    assert_eq!(raw_session_info(common::raw_handle(&a)).err(), Some(CKR_SESSION_HANDLE_INVALID));
    assert_eq!(raw_session_info(common::raw_handle(&b)).err(), Some(CKR_SESSION_HANDLE_INVALID));
    assert_eq!(state(&rw(slot)), SessionState::RwPublic);
}

#[test]
fn close_all_sessions_leaves_other_slots_alone() {
    let (a, b) = (common::fresh_token("t21"), common::fresh_token("t22"));
    let sb = rw(b);
    sb.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let _sa = rw(a);
    assert_eq!(common::close_all_sessions(a), CKR_OK);
    assert_eq!(state(&sb), SessionState::RwUser);
}

#[test]
fn closing_the_last_session_logs_out() {
    let slot = common::fresh_token("t23");
    let s = rw(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.close().unwrap();
    assert_eq!(state(&rw(slot)), SessionState::RwPublic);
}

#[test]
fn closing_one_of_two_sessions_keeps_the_login() {
    let slot = common::fresh_token("t24");
    let (a, b) = (rw(slot), ro(slot));
    a.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    a.close().unwrap();
    assert_eq!(state(&b), SessionState::RoUser);
}

// ---------------------------------------------------------------------------------------------
// Invalid handles and C_SessionCancel

#[test]
fn invalid_session_handle_is_session_handle_invalid_everywhere() {
    let slot = common::fresh_token("t25");
    let closed = rw(slot);
    let closed_handle = common::raw_handle(&closed);
    closed.close().unwrap();
    // A live session, so the token is in use while the bad handles are tried.
    let _live = rw(slot);
    for bad in [CK_INVALID_HANDLE, closed_handle, 0x7fff_ffff] {
        for (name, rv) in calls_with_session(bad) {
            assert_eq!(rv, CKR_SESSION_HANDLE_INVALID, "{name} with session handle {bad:#x}");
        }
    }
}

#[test]
fn session_cancel_ends_the_named_operations() {
    let s = rw(common::fresh_token("t26"));
    let h = common::raw_handle(&s);
    let l = common::raw();
    let mut digest = CK_MECHANISM { mechanism: CKM_SHA256, pParameter: null_mut(), ulParameterLen: 0 };
    let mut found = 0;
    let mut handles = [0; 4];
    // SAFETY: every pointer is to a live value of the right type and size.
    unsafe {
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(l.C_DigestInit.unwrap()(h, &mut digest), CKR_OK);
        assert_eq!(list_3_0().C_SessionCancel.unwrap()(h, CKF_FIND_OBJECTS), CKR_OK);
        assert_eq!(
            l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 4, &mut found),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // The digest was not named: it goes on.
        assert_eq!(l.C_DigestUpdate.unwrap()(h, b"abc".as_ptr() as *mut u8, 3), CKR_OK);
        assert_eq!(list_3_0().C_SessionCancel.unwrap()(h, CKF_DIGEST), CKR_OK);
        assert_eq!(
            l.C_DigestUpdate.unwrap()(h, b"abc".as_ptr() as *mut u8, 3),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Both can start again.
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(l.C_DigestInit.unwrap()(h, &mut digest), CKR_OK);
    }
}

#[test]
fn session_objects_need_an_open_session_of_their_own_token() {
    // A session object created in one token's session is not visible in another token's session.
    let (a, b) = (common::fresh_token("t27"), common::fresh_token("t28"));
    let sa = rw(a);
    let sb = rw(b);
    let obj = sa
        .create_object(&[Attribute::Class(ObjectClass::DATA), Attribute::Label(b"only-a".to_vec())])
        .unwrap();
    assert_eq!(sb.find_objects(&[Attribute::Label(b"only-a".to_vec())]).unwrap().len(), 0);
    assert_eq!(
        err(sb.get_attributes(obj, &[cryptoki::object::AttributeType::Label])),
        RvError::ObjectHandleInvalid
    );
}
