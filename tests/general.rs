//! General-purpose functions and interfaces: `C_Initialize` argument checks, `C_Finalize`,
//! `C_GetInfo`, `C_GetFunctionList`, `C_GetInterfaceList`, `C_GetInterface`, and the library's
//! behaviour in a forked child.
//!
//! The library of this binary is initialized once for the whole process; checks that need an
//! uninitialized library run in a forked child, where the spec makes the library uninitialized
//! again (PKCS#11 3.0, C_Initialize: a forked child must call `C_Initialize` before using it).
//! Every test of this file holds [`serial`], so no other thread is inside the library when a test
//! forks.

mod common;

use cryptoki_sys::*;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Name of the interface every PKCS#11 3.x module offers, NUL-terminated.
const PKCS11: &[u8] = b"PKCS 11\0";

/// Serializes the tests of this file (see the module comment).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    common::raw();
    guard
}

type GetInterfaceList = unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV;
type GetInterface =
    unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;

/// The library's exported `C_GetInterfaceList` and `C_GetInterface`.
fn interface_fns() -> (GetInterfaceList, GetInterface) {
    static FNS: OnceLock<(GetInterfaceList, GetInterface)> = OnceLock::new();
    *FNS.get_or_init(|| {
        // SAFETY: the symbols have the PKCS#11 3.0 signatures; the library stays loaded for the
        // life of the process (it is forgotten, never closed).
        unsafe {
            let lib = libloading::Library::new(common::module_path()).expect("dlopen");
            let list = *lib.get::<GetInterfaceList>(b"C_GetInterfaceList").expect("C_GetInterfaceList");
            let get = *lib.get::<GetInterface>(b"C_GetInterface").expect("C_GetInterface");
            std::mem::forget(lib);
            (list, get)
        }
    })
}

/// `C_GetInterface` with an optional name and version; the interface or the return value.
fn get_interface(
    name: Option<&[u8]>,
    version: Option<(u8, u8)>,
    flags: CK_FLAGS,
) -> Result<CK_INTERFACE, CK_RV> {
    let mut name_buf = name.map(<[u8]>::to_vec);
    let mut v = version.map(|(major, minor)| CK_VERSION { major, minor });
    let name_ptr = name_buf.as_mut().map_or(null_mut(), |n| n.as_mut_ptr());
    let version_ptr = v.as_mut().map_or(null_mut(), |v| v as *mut CK_VERSION);
    let mut out: *mut CK_INTERFACE = null_mut();
    // SAFETY: NUL-terminated name or null, a version or null, a writable out pointer.
    let rv = unsafe { (interface_fns().1)(name_ptr, version_ptr, &mut out, flags) };
    if rv != CKR_OK {
        assert!(out.is_null(), "C_GetInterface failed with {rv:#x} but wrote an interface");
        return Err(rv);
    }
    assert!(!out.is_null(), "C_GetInterface returned CKR_OK and no interface");
    // SAFETY: the library returned a pointer to one of its static interfaces.
    Ok(unsafe { out.read() })
}

/// The version at the start of an interface's function list.
fn list_version(i: &CK_INTERFACE) -> (u8, u8) {
    // SAFETY: every function list begins with its CK_VERSION.
    let v = unsafe { (i.pFunctionList as *const CK_VERSION).read() };
    (v.major, v.minor)
}

fn interface_name(i: &CK_INTERFACE) -> String {
    // SAFETY: the interface name is a NUL-terminated string of the library.
    unsafe { std::ffi::CStr::from_ptr(i.pInterfaceName as *const std::ffi::c_char) }
        .to_string_lossy()
        .into_owned()
}

/// The 3.2 function list (a superset of the 3.0 and 2.40 lists).
fn list_3_2() -> &'static CK_FUNCTION_LIST_3_2 {
    let i = get_interface(Some(PKCS11), Some((3, 2)), 0).expect("PKCS 11 3.2");
    // SAFETY: the interface of version 3.2 points to a CK_FUNCTION_LIST_3_2 static.
    unsafe { &*(i.pFunctionList as *const CK_FUNCTION_LIST_3_2) }
}

/// Positions (0 = `C_Initialize`) of the function pointers of a list that are null, and how many
/// entries the list has.
fn null_entries<T>(list: &T, first_fn_offset: usize) -> (usize, Vec<usize>) {
    type AnyFn = Option<unsafe extern "C" fn()>;
    let count = (std::mem::size_of::<T>() - first_fn_offset) / std::mem::size_of::<AnyFn>();
    let base = (list as *const T as *const u8).wrapping_add(first_fn_offset) as *const AnyFn;
    // SAFETY: the entries from `first_fn_offset` to the end of `T` are all optional function
    // pointers, which share the layout of `AnyFn`.
    let nulls = (0..count).filter(|i| unsafe { base.add(*i).read() }.is_none()).collect();
    (count, nulls)
}

fn info_via(get_info: CK_C_GetInfo) -> (CK_RV, CK_INFO) {
    // SAFETY: CK_INFO is plain data; all-zero is a valid value.
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: a writable CK_INFO.
    let rv = unsafe { get_info.expect("C_GetInfo")(&mut info) };
    (rv, info)
}

/// Runs `body` in a forked child and returns what it reported: `Ok` for exit code 0, else the
/// message it wrote to a pipe (or how it died).
fn in_forked_child(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` holds two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: the child only calls the library, writes to the pipe and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
            .unwrap_or_else(|_| Err("the child panicked".into()));
        let code = match outcome {
            Ok(()) => 0,
            Err(msg) => {
                // SAFETY: writing a live buffer to the pipe.
                unsafe { libc::write(fds[1], msg.as_ptr() as *const c_void, msg.len()) };
                1
            }
        };
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut msg = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: reading into a live buffer.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr() as *mut c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        msg.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: closing the read end.
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid, "waitpid");
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if libc::WIFEXITED(status) {
        Err(String::from_utf8_lossy(&msg).into_owned())
    } else {
        Err(format!("the child died (wait status {status:#x}) {}", String::from_utf8_lossy(&msg)))
    }
}

/// For child code: an error unless `actual == expected`.
fn expect_rv(what: &str, actual: CK_RV, expected: CK_RV) -> Result<(), String> {
    if actual == expected { Ok(()) } else { Err(format!("{what}: got {actual:#x}, expected {expected:#x}")) }
}

/// `C_Initialize` through the raw list.
fn initialize(args: Option<&mut CK_C_INITIALIZE_ARGS>) -> CK_RV {
    let ptr = args.map_or(null_mut(), |a| a as *mut CK_C_INITIALIZE_ARGS as *mut c_void);
    // SAFETY: null or a live CK_C_INITIALIZE_ARGS.
    unsafe { common::raw().C_Initialize.unwrap()(ptr) }
}

fn finalize() -> CK_RV {
    // SAFETY: the reserved pointer must be null.
    unsafe { common::raw().C_Finalize.unwrap()(null_mut()) }
}

/// Whether the library of this (child) process answers as initialized.
fn get_info_rv() -> CK_RV {
    info_via(common::raw().C_GetInfo).0
}

// Application mutex functions for C_Initialize. They do not lock: the library either refuses
// application locking (CKR_CANT_LOCK) or, with CKF_OS_LOCKING_OK, may use its own instead.

unsafe extern "C" fn create_mutex(m: *mut *mut c_void) -> CK_RV {
    // SAFETY: the library passes a writable pointer slot.
    unsafe { *m = Box::into_raw(Box::new(0u8)) as *mut c_void };
    CKR_OK
}

unsafe extern "C" fn destroy_mutex(m: *mut c_void) -> CK_RV {
    // SAFETY: `m` came from `create_mutex`.
    drop(unsafe { Box::from_raw(m as *mut u8) });
    CKR_OK
}

unsafe extern "C" fn lock_mutex(_: *mut c_void) -> CK_RV {
    CKR_OK
}

unsafe extern "C" fn unlock_mutex(_: *mut c_void) -> CK_RV {
    CKR_OK
}

fn init_args(flags: CK_FLAGS, mutexes: bool) -> CK_C_INITIALIZE_ARGS {
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags,
        pReserved: null_mut(),
    };
    if mutexes {
        args.CreateMutex = Some(create_mutex);
        args.DestroyMutex = Some(destroy_mutex);
        args.LockMutex = Some(lock_mutex);
        args.UnlockMutex = Some(unlock_mutex);
    }
    args
}

// ---------------------------------------------------------------------------------------------
// C_Initialize and C_Finalize

#[test]
fn initialize_when_already_initialized_is_cryptoki_already_initialized() {
    let _s = serial();
    assert_eq!(initialize(None), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_eq!(initialize(Some(&mut init_args(CKF_OS_LOCKING_OK, false))), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    // The library is still the one this process initialized.
    assert_eq!(get_info_rv(), CKR_OK);
}

#[test]
fn initialize_with_reserved_pointer_is_arguments_bad() {
    let _s = serial();
    let child = in_forked_child(|| {
        let mut reserved = 0u8;
        let mut args = init_args(CKF_OS_LOCKING_OK, false);
        args.pReserved = &mut reserved as *mut u8 as *mut c_void;
        expect_rv("C_Initialize(pReserved set)", initialize(Some(&mut args)), CKR_ARGUMENTS_BAD)?;
        expect_rv("C_GetInfo after the refused C_Initialize", get_info_rv(), CKR_CRYPTOKI_NOT_INITIALIZED)
    });
    child.unwrap();
}

#[test]
fn initialize_with_some_but_not_all_mutex_functions_is_arguments_bad() {
    let _s = serial();
    let child = in_forked_child(|| {
        // PKCS#11 2.40 §5.4 (C_Initialize): the four function pointers are either all supplied or all null.
        let mut args = init_args(CKF_OS_LOCKING_OK, true);
        args.UnlockMutex = None;
        expect_rv("C_Initialize(3 of 4 mutex functions)", initialize(Some(&mut args)), CKR_ARGUMENTS_BAD)?;
        expect_rv("C_GetInfo after the refused C_Initialize", get_info_rv(), CKR_CRYPTOKI_NOT_INITIALIZED)
    });
    child.unwrap();
}

#[test]
fn initialize_with_only_application_mutexes_is_cant_lock() {
    let _s = serial();
    let child = in_forked_child(|| {
        // Mutex functions given and CKF_OS_LOCKING_OK clear: the library must use the
        // application's functions (2.40 §5.4, case 3); a library that cannot returns CKR_CANT_LOCK.
        let mut args = init_args(0, true);
        expect_rv("C_Initialize(application mutexes only)", initialize(Some(&mut args)), CKR_CANT_LOCK)?;
        expect_rv("C_GetInfo after the refused C_Initialize", get_info_rv(), CKR_CRYPTOKI_NOT_INITIALIZED)
    });
    child.unwrap();
}

#[test]
fn initialize_with_application_mutexes_and_os_locking_ok_succeeds() {
    let _s = serial();
    let child = in_forked_child(|| {
        // Case 4 of 2.40 §5.4: the library may use either the OS primitives or the functions.
        let mut args = init_args(CKF_OS_LOCKING_OK, true);
        expect_rv("C_Initialize(mutexes + OS_LOCKING_OK)", initialize(Some(&mut args)), CKR_OK)?;
        expect_rv("C_GetInfo", get_info_rv(), CKR_OK)?;
        expect_rv("C_Finalize", finalize(), CKR_OK)
    });
    child.unwrap();
}

#[test]
fn finalize_with_reserved_pointer_is_arguments_bad_and_keeps_the_library() {
    let _s = serial();
    let child = in_forked_child(|| {
        expect_rv("C_Initialize", initialize(None), CKR_OK)?;
        let mut reserved = 0u8;
        // SAFETY: a non-null reserved pointer, which the library must refuse without using.
        let rv = unsafe { common::raw().C_Finalize.unwrap()(&mut reserved as *mut u8 as *mut c_void) };
        expect_rv("C_Finalize(non-null)", rv, CKR_ARGUMENTS_BAD)?;
        expect_rv("C_GetInfo after the refused C_Finalize", get_info_rv(), CKR_OK)?;
        expect_rv("C_Finalize", finalize(), CKR_OK)
    });
    child.unwrap();
}

#[test]
fn after_finalize_calls_fail_until_initialize_again() {
    let _s = serial();
    let child = in_forked_child(|| {
        expect_rv("C_Initialize", initialize(None), CKR_OK)?;
        expect_rv("C_Finalize", finalize(), CKR_OK)?;
        expect_rv("C_GetInfo after C_Finalize", get_info_rv(), CKR_CRYPTOKI_NOT_INITIALIZED)?;
        expect_rv("second C_Finalize", finalize(), CKR_CRYPTOKI_NOT_INITIALIZED)?;
        expect_rv("C_Initialize again", initialize(None), CKR_OK)?;
        expect_rv("C_GetInfo", get_info_rv(), CKR_OK)?;
        expect_rv("C_Finalize", finalize(), CKR_OK)
    });
    child.unwrap();
}

// ---------------------------------------------------------------------------------------------
// C_GetInfo and C_GetFunctionList

#[test]
fn get_info_reports_2_40_and_blank_padded_text() {
    let _s = serial();
    let (rv, info) = info_via(common::raw().C_GetInfo);
    assert_eq!(rv, CKR_OK);
    assert_eq!((info.cryptokiVersion.major, info.cryptokiVersion.minor), (2, 40));
    // 2.40 §3.1 CK_INFO: text fields are blank-padded and not NUL-terminated; flags must be zero.
    assert_eq!(&info.manufacturerID[..10], b"kms-pkcs11");
    assert!(info.manufacturerID[10..].iter().all(|b| *b == b' '), "{:?}", info.manufacturerID);
    assert!(!info.libraryDescription.contains(&0), "{:?}", info.libraryDescription);
    assert_eq!(info.flags, 0);
}

#[test]
fn get_info_null_pointer_is_arguments_bad() {
    let _s = serial();
    // SAFETY: a null pointer, which the library must refuse.
    assert_eq!(unsafe { common::raw().C_GetInfo.unwrap()(null_mut()) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn get_function_list_reports_version_2_40() {
    let _s = serial();
    let mut list: *mut CK_FUNCTION_LIST = null_mut();
    // SAFETY: a writable pointer slot.
    assert_eq!(unsafe { common::raw().C_GetFunctionList.unwrap()(&mut list) }, CKR_OK);
    // SAFETY: the library returned its static list.
    let list = unsafe { &*list };
    assert_eq!((list.version.major, list.version.minor), (2, 40));
}

#[test]
fn get_function_list_null_pointer_is_arguments_bad() {
    let _s = serial();
    // SAFETY: a null pointer, which the library must refuse.
    assert_eq!(unsafe { common::raw().C_GetFunctionList.unwrap()(null_mut()) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn function_list_2_40_has_all_68_functions() {
    let _s = serial();
    let (count, nulls) = null_entries(common::raw(), std::mem::offset_of!(CK_FUNCTION_LIST, C_Initialize));
    assert_eq!(count, 68);
    assert!(nulls.is_empty(), "null function pointers at positions {nulls:?}");
}

// ---------------------------------------------------------------------------------------------
// C_GetInterfaceList and C_GetInterface

#[test]
fn interface_list_offers_pkcs11_3_2_3_0_and_2_40_and_the_vendor_interface() {
    let _s = serial();
    let (get_list, _) = interface_fns();
    let mut count: CK_ULONG = 0;
    // SAFETY: a size query: null list, writable count.
    assert_eq!(unsafe { get_list(null_mut(), &mut count) }, CKR_OK);
    assert_eq!(count, 4);
    // SAFETY: CK_INTERFACE is plain data; all-zero is valid.
    let mut list: Vec<CK_INTERFACE> = vec![unsafe { std::mem::zeroed() }; count as usize];
    // SAFETY: `list` holds `count` interfaces.
    assert_eq!(unsafe { get_list(list.as_mut_ptr(), &mut count) }, CKR_OK);
    assert_eq!(count, 4);
    let mut seen: Vec<(String, (u8, u8))> =
        list.iter().map(|i| (interface_name(i), list_version(i))).collect();
    seen.sort();
    let expected = [("KMS PKCS11", (1, 0)), ("PKCS 11", (2, 40)), ("PKCS 11", (3, 0)), ("PKCS 11", (3, 2))];
    assert_eq!(seen, expected.map(|(n, v)| (n.to_string(), v)));
    // The default (no name) is the newest standard interface.
    assert_eq!(interface_name(&list[0]), "PKCS 11");
    assert_eq!(list_version(&list[0]), (3, 2));
}

#[test]
fn interface_list_short_buffer_is_buffer_too_small_with_the_count() {
    let _s = serial();
    let (get_list, _) = interface_fns();
    // SAFETY: CK_INTERFACE is plain data; all-zero is valid.
    let mut list: Vec<CK_INTERFACE> = vec![unsafe { std::mem::zeroed() }; 2];
    let mut count: CK_ULONG = 2;
    // SAFETY: `list` holds 2 interfaces and `count` says so.
    assert_eq!(unsafe { get_list(list.as_mut_ptr(), &mut count) }, CKR_BUFFER_TOO_SMALL);
    assert_eq!(count, 4);
}

#[test]
fn interface_list_null_count_is_arguments_bad() {
    let _s = serial();
    // SAFETY: null pointers, which the library must refuse.
    assert_eq!(unsafe { (interface_fns().0)(null_mut(), null_mut()) }, CKR_ARGUMENTS_BAD);
}

#[test]
fn get_interface_by_name_and_version_returns_that_list() {
    let _s = serial();
    for version in [(3, 2), (3, 0), (2, 40)] {
        let i =
            get_interface(Some(PKCS11), Some(version), 0).unwrap_or_else(|rv| panic!("{version:?}: {rv:#x}"));
        assert_eq!(interface_name(&i), "PKCS 11");
        assert_eq!(list_version(&i), version);
    }
}

#[test]
fn get_info_of_each_interface_reports_its_version() {
    let _s = serial();
    for version in [(3, 2), (3, 0), (2, 40)] {
        let i = get_interface(Some(PKCS11), Some(version), 0).unwrap();
        // Every list starts like the 2.40 list, so C_GetInfo sits at the same place in each.
        // SAFETY: the function list begins with the 2.40 layout.
        let list = unsafe { &*(i.pFunctionList as *const CK_FUNCTION_LIST) };
        let (rv, info) = info_via(list.C_GetInfo);
        assert_eq!(rv, CKR_OK);
        assert_eq!((info.cryptokiVersion.major, info.cryptokiVersion.minor), version);
    }
}

#[test]
fn get_interface_without_name_or_version_returns_a_pkcs11_interface() {
    let _s = serial();
    let i = get_interface(None, None, 0).expect("default interface");
    assert_eq!(interface_name(&i), "PKCS 11");
    assert!([(3, 2), (3, 0), (2, 40)].contains(&list_version(&i)));
    let by_version = get_interface(None, Some((3, 0)), 0).expect("3.0 without a name");
    assert_eq!(list_version(&by_version), (3, 0));
}

// The spec's return values for C_GetInterface have no code for "no such interface"; of those it
// lists, CKR_ARGUMENTS_BAD is the one that fits a name, version or flags the module does not offer.

#[test]
fn get_interface_unknown_name_is_arguments_bad() {
    let _s = serial();
    assert_eq!(get_interface(Some(b"PKCS 12\0"), None, 0).err(), Some(CKR_ARGUMENTS_BAD));
    assert_eq!(get_interface(Some(b"Vendor\0"), Some((3, 0)), 0).err(), Some(CKR_ARGUMENTS_BAD));
}

#[test]
fn get_interface_unknown_version_is_arguments_bad() {
    let _s = serial();
    assert_eq!(get_interface(Some(PKCS11), Some((3, 1)), 0).err(), Some(CKR_ARGUMENTS_BAD));
    assert_eq!(get_interface(Some(PKCS11), Some((2, 11)), 0).err(), Some(CKR_ARGUMENTS_BAD));
}

#[test]
fn get_interface_with_flags_no_interface_has_is_arguments_bad() {
    let _s = serial();
    assert_eq!(get_interface(Some(PKCS11), None, CKF_INTERFACE_FORK_SAFE).err(), Some(CKR_ARGUMENTS_BAD));
}

#[test]
fn get_interface_null_out_pointer_is_arguments_bad() {
    let _s = serial();
    let mut name = PKCS11.to_vec();
    // SAFETY: a null out pointer, which the library must refuse.
    let rv = unsafe { (interface_fns().1)(name.as_mut_ptr(), null_mut(), null_mut(), 0) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn function_lists_of_every_interface_have_no_null_entries() {
    let _s = serial();
    let i = get_interface(Some(PKCS11), Some((2, 40)), 0).unwrap();
    // SAFETY: the 2.40 interface points to a CK_FUNCTION_LIST.
    let l240 = unsafe { &*(i.pFunctionList as *const CK_FUNCTION_LIST) };
    let (count, nulls) = null_entries(l240, std::mem::offset_of!(CK_FUNCTION_LIST, C_Initialize));
    assert_eq!((count, nulls), (68, vec![]), "2.40 list");

    let i = get_interface(Some(PKCS11), Some((3, 0)), 0).unwrap();
    // SAFETY: the 3.0 interface points to a CK_FUNCTION_LIST_3_0.
    let l30 = unsafe { &*(i.pFunctionList as *const CK_FUNCTION_LIST_3_0) };
    let (count, nulls) = null_entries(l30, std::mem::offset_of!(CK_FUNCTION_LIST_3_0, C_Initialize));
    // 3.0 adds 24 functions to the 68 of 2.40.
    assert_eq!((count, nulls), (92, vec![]), "3.0 list");

    let (count, nulls) = null_entries(list_3_2(), std::mem::offset_of!(CK_FUNCTION_LIST_3_2, C_Initialize));
    assert!(count > 92, "3.2 list has {count} entries");
    assert!(nulls.is_empty(), "3.2 list: null function pointers at positions {nulls:?}");
}

// ---------------------------------------------------------------------------------------------
// fork

/// Calls every function of the 3.2 list except the four that work without `C_Initialize`
/// (`C_Initialize` itself, `C_GetFunctionList`, `C_GetInterfaceList`, `C_GetInterface`), with
/// session handle `h` and null or zero for every other argument.
fn call_every_function(l: &CK_FUNCTION_LIST_3_2, h: CK_SESSION_HANDLE) -> Vec<(&'static str, CK_RV)> {
    macro_rules! calls {
        ($($f:ident($($a:expr),*)),* $(,)?) => {
            // SAFETY: an uninitialized library must answer before touching any argument; the
            // pointers are null and the lengths zero, so nothing is read or written either way.
            vec![$((stringify!($f), unsafe { l.$f.expect(stringify!($f))($($a),*) })),*]
        };
    }
    calls![
        C_Finalize(null_mut()),
        C_GetInfo(null_mut()),
        C_GetSlotList(0, null_mut(), null_mut()),
        C_GetSlotInfo(0, null_mut()),
        C_GetTokenInfo(0, null_mut()),
        C_GetMechanismList(0, null_mut(), null_mut()),
        C_GetMechanismInfo(0, 0, null_mut()),
        C_InitToken(0, null_mut(), 0, null_mut()),
        C_InitPIN(h, null_mut(), 0),
        C_SetPIN(h, null_mut(), 0, null_mut(), 0),
        C_OpenSession(0, CKF_SERIAL_SESSION, null_mut(), None, null_mut()),
        C_CloseSession(h),
        C_CloseAllSessions(0),
        C_GetSessionInfo(h, null_mut()),
        C_GetOperationState(h, null_mut(), null_mut()),
        C_SetOperationState(h, null_mut(), 0, 0, 0),
        C_Login(h, CKU_USER, null_mut(), 0),
        C_Logout(h),
        C_CreateObject(h, null_mut(), 0, null_mut()),
        C_CopyObject(h, 0, null_mut(), 0, null_mut()),
        C_DestroyObject(h, 0),
        C_GetObjectSize(h, 0, null_mut()),
        C_GetAttributeValue(h, 0, null_mut(), 0),
        C_SetAttributeValue(h, 0, null_mut(), 0),
        C_FindObjectsInit(h, null_mut(), 0),
        C_FindObjects(h, null_mut(), 0, null_mut()),
        C_FindObjectsFinal(h),
        C_EncryptInit(h, null_mut(), 0),
        C_Encrypt(h, null_mut(), 0, null_mut(), null_mut()),
        C_EncryptUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_EncryptFinal(h, null_mut(), null_mut()),
        C_DecryptInit(h, null_mut(), 0),
        C_Decrypt(h, null_mut(), 0, null_mut(), null_mut()),
        C_DecryptUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_DecryptFinal(h, null_mut(), null_mut()),
        C_DigestInit(h, null_mut()),
        C_Digest(h, null_mut(), 0, null_mut(), null_mut()),
        C_DigestUpdate(h, null_mut(), 0),
        C_DigestKey(h, 0),
        C_DigestFinal(h, null_mut(), null_mut()),
        C_SignInit(h, null_mut(), 0),
        C_Sign(h, null_mut(), 0, null_mut(), null_mut()),
        C_SignUpdate(h, null_mut(), 0),
        C_SignFinal(h, null_mut(), null_mut()),
        C_SignRecoverInit(h, null_mut(), 0),
        C_SignRecover(h, null_mut(), 0, null_mut(), null_mut()),
        C_VerifyInit(h, null_mut(), 0),
        C_Verify(h, null_mut(), 0, null_mut(), 0),
        C_VerifyUpdate(h, null_mut(), 0),
        C_VerifyFinal(h, null_mut(), 0),
        C_VerifyRecoverInit(h, null_mut(), 0),
        C_VerifyRecover(h, null_mut(), 0, null_mut(), null_mut()),
        C_DigestEncryptUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_DecryptDigestUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_SignEncryptUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_DecryptVerifyUpdate(h, null_mut(), 0, null_mut(), null_mut()),
        C_GenerateKey(h, null_mut(), null_mut(), 0, null_mut()),
        C_GenerateKeyPair(h, null_mut(), null_mut(), 0, null_mut(), 0, null_mut(), null_mut()),
        C_WrapKey(h, null_mut(), 0, 0, null_mut(), null_mut()),
        C_UnwrapKey(h, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut()),
        C_DeriveKey(h, null_mut(), 0, null_mut(), 0, null_mut()),
        C_SeedRandom(h, null_mut(), 0),
        C_GenerateRandom(h, null_mut(), 0),
        C_GetFunctionStatus(h),
        C_CancelFunction(h),
        C_WaitForSlotEvent(CKF_DONT_BLOCK, null_mut(), null_mut()),
        C_LoginUser(h, CKU_USER, null_mut(), 0, null_mut(), 0),
        C_SessionCancel(h, 0),
        C_MessageEncryptInit(h, null_mut(), 0),
        C_EncryptMessage(h, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut(), null_mut()),
        C_EncryptMessageBegin(h, null_mut(), 0, null_mut(), 0),
        C_EncryptMessageNext(h, null_mut(), 0, null_mut(), 0, null_mut(), null_mut(), 0),
        C_MessageEncryptFinal(h),
        C_MessageDecryptInit(h, null_mut(), 0),
        C_DecryptMessage(h, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut(), null_mut()),
        C_DecryptMessageBegin(h, null_mut(), 0, null_mut(), 0),
        C_DecryptMessageNext(h, null_mut(), 0, null_mut(), 0, null_mut(), null_mut(), 0),
        C_MessageDecryptFinal(h),
        C_MessageSignInit(h, null_mut(), 0),
        C_SignMessage(h, null_mut(), 0, null_mut(), 0, null_mut(), null_mut()),
        C_SignMessageBegin(h, null_mut(), 0),
        C_SignMessageNext(h, null_mut(), 0, null_mut(), 0, null_mut(), null_mut()),
        C_MessageSignFinal(h),
        C_MessageVerifyInit(h, null_mut(), 0),
        C_VerifyMessage(h, null_mut(), 0, null_mut(), 0, null_mut(), 0),
        C_VerifyMessageBegin(h, null_mut(), 0),
        C_VerifyMessageNext(h, null_mut(), 0, null_mut(), 0, null_mut(), 0),
        C_MessageVerifyFinal(h),
        C_EncapsulateKey(h, null_mut(), 0, null_mut(), 0, null_mut(), null_mut(), null_mut()),
        C_DecapsulateKey(h, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut()),
        C_VerifySignatureInit(h, null_mut(), 0, null_mut(), 0),
        C_VerifySignature(h, null_mut(), 0),
        C_VerifySignatureUpdate(h, null_mut(), 0),
        C_VerifySignatureFinal(h),
        C_GetSessionValidationFlags(h, 0, null_mut()),
        C_AsyncComplete(h, null_mut(), null_mut()),
        C_AsyncGetID(h, null_mut(), null_mut()),
        C_AsyncJoin(h, null_mut(), 0, null_mut(), 0),
        C_WrapKeyAuthenticated(h, null_mut(), 0, 0, null_mut(), 0, null_mut(), null_mut()),
        C_UnwrapKeyAuthenticated(h, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut(), 0, null_mut()),
    ]
}

#[test]
fn forked_child_gets_not_initialized_from_every_function_until_it_initializes() {
    let _s = serial();
    let slot = common::fresh_token("t01");
    let parent = common::pkcs11().open_rw_session(slot).unwrap();
    parent
        .login(
            cryptoki::session::UserType::User,
            Some(&cryptoki::types::AuthPin::new(common::USER_PIN.into())),
        )
        .unwrap();
    let h = common::raw_handle(&parent);
    let slot_id = slot.id();
    let l = list_3_2();

    let child = in_forked_child(|| {
        let results = call_every_function(l, h);
        if results.len() < 100 {
            return Err(format!("only {} functions called", results.len()));
        }
        for (name, rv) in results {
            expect_rv(&format!("{name} in the child before C_Initialize"), rv, CKR_CRYPTOKI_NOT_INITIALIZED)?;
        }
        // Re-initialized, the library works, with none of the parent's sessions or logins.
        expect_rv("C_Initialize in the child", initialize(None), CKR_OK)?;
        expect_rv("C_GetInfo", get_info_rv(), CKR_OK)?;
        // SAFETY: CK_SESSION_INFO is plain data; all-zero is valid.
        let mut si: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: a writable CK_SESSION_INFO.
        let rv = unsafe { l.C_GetSessionInfo.unwrap()(h, &mut si) };
        expect_rv("C_GetSessionInfo(parent's session)", rv, CKR_SESSION_HANDLE_INVALID)?;
        let mut own: CK_SESSION_HANDLE = 0;
        let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
        // SAFETY: a writable session handle.
        let rv = unsafe { l.C_OpenSession.unwrap()(slot_id, flags, null_mut(), None, &mut own) };
        expect_rv("C_OpenSession", rv, CKR_OK)?;
        // SAFETY: a writable CK_SESSION_INFO.
        expect_rv("C_GetSessionInfo", unsafe { l.C_GetSessionInfo.unwrap()(own, &mut si) }, CKR_OK)?;
        expect_rv("state of the child's new session", si.state, CKS_RW_PUBLIC_SESSION)?;
        let mut pin = common::USER_PIN.as_bytes().to_vec();
        // SAFETY: the PIN buffer and its length.
        let rv = unsafe { l.C_Login.unwrap()(own, CKU_USER, pin.as_mut_ptr(), pin.len() as CK_ULONG) };
        expect_rv("C_Login in the child", rv, CKR_OK)?;
        let mut random = [0u8; 16];
        // SAFETY: a 16-byte buffer.
        let rv = unsafe { l.C_GenerateRandom.unwrap()(own, random.as_mut_ptr(), 16) };
        expect_rv("C_GenerateRandom", rv, CKR_OK)?;
        expect_rv("C_Finalize in the child", finalize(), CKR_OK)
    });
    child.unwrap();

    // The parent's library, session and login are untouched.
    let info = parent.get_session_info().unwrap();
    assert_eq!(info.session_state(), cryptoki::session::SessionState::RwUser);
}

// ---------------------------------------------------------------------------------------------
// Unloading

const UNLOAD_CHILD: &str = "KMS_PKCS11_TEST_UNLOAD_CHILD";

/// Run by `module_unloaded_after_finalize_does_not_crash_threads_that_used_it` in a process of its
/// own: a thread loads the module, uses it, finalizes it and unloads it, then ends.
#[test]
#[ignore = "the second process of module_unloaded_after_finalize_does_not_crash_threads_that_used_it"]
fn unload_child() {
    assert!(std::env::var_os(UNLOAD_CHILD).is_some(), "run by its parent test");
    std::thread::spawn(|| {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        let pkcs11 = Pkcs11::new(common::module_path()).unwrap();
        pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
        let slot = pkcs11.get_all_slots().unwrap()[0];
        let session = pkcs11.open_ro_session(slot).unwrap();
        session.generate_random_vec(16).unwrap();
        drop(session);
        // Finalizes, and unloads the module: this was its last handle.
        pkcs11.finalize().unwrap();
    })
    .join()
    .unwrap();
    println!("UNLOAD-CHILD> the thread ended");
}

#[test]
fn module_unloaded_after_finalize_does_not_crash_threads_that_used_it() {
    // Applications unload modules they no longer need (dlclose after C_Finalize); a thread that
    // had called into the module must still be able to end.
    let _s = serial();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["unload_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(UNLOAD_CHILD, "1")
        .output()
        .expect("spawn the child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("UNLOAD-CHILD> the thread ended"),
        "child process: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
