/*
 * Wrong call orders: C_Initialize's bad arguments and double calls, operations never
 * started or already ended, a closed session or a destroyed object used again, C_Finalize
 * twice, and the library initialized anew after it.
 */
#include "common.h"

static CK_RV lock_stub(void *mutex) {
    (void)mutex;
    return CKR_OK;
}

static CK_RV create_stub(void **mutex) {
    *mutex = NULL;
    return CKR_OK;
}

/* C_Initialize of each list in turn: the pointers of the three lists must all work. */
static const CK_FUNCTION_LIST *LISTS[3];

static void remember_lists(void) {
    CK_FUNCTION_LIST *v2;
    MUST("C_GetFunctionList", P11->v2.C_GetFunctionList(&v2));
    LISTS[0] = v2;
    struct iface *i;
    CK_VERSION v30 = {3, 0};
    MUST("C_GetInterface", P11->C_GetInterface((CK_UTF8CHAR *)"PKCS 11", &v30, &i, 0));
    LISTS[1] = i->list;
    LISTS[2] = &P11->v2;
}

void order_before_init(void) {
    remember_lists();
    CK_C_INITIALIZE_ARGS args;
    for (int l = 0; l < 3; l++) {
        const CK_FUNCTION_LIST *f = LISTS[l];
        CHECK("C_Finalize", "before C_Initialize", f->C_Finalize(NULL),
              CKR_CRYPTOKI_NOT_INITIALIZED);
        memset(&args, 0, sizeof(args));
        args.pReserved = &args;
        CHECK("C_Initialize", "pReserved not NULL", f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
        memset(&args, 0, sizeof(args));
        args.CreateMutex = create_stub;
        args.LockMutex = lock_stub;
        CHECK("C_Initialize", "two of the four mutex functions", f->C_Initialize(&args),
              CKR_ARGUMENTS_BAD);
        args.DestroyMutex = lock_stub;
        args.UnlockMutex = lock_stub;
        CHECK("C_Initialize", "only the caller's mutexes", f->C_Initialize(&args), CKR_CANT_LOCK);
        CK_INFO info;
        CHECK("C_GetInfo", "after the refused C_Initialize calls", f->C_GetInfo(&info),
              CKR_CRYPTOKI_NOT_INITIALIZED);
    }
}

void order_initialize(void) {
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    /* GnuTLS's p11tool --provider initializes the module with CKF_LIBRARY_CANT_CREATE_OS_THREADS
     * and gives up on CKR_NEED_TO_CREATE_THREADS ("Thread locking error"): the library accepts
     * the flag and still runs its audit writer thread. */
    args.flags = CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    CHECK("C_Initialize", "CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS",
          LISTS[1]->C_Initialize(&args), CKR_OK);
    for (int l = 0; l < 3; l++) {
        CHECK("C_Initialize", "again", LISTS[l]->C_Initialize(NULL),
              CKR_CRYPTOKI_ALREADY_INITIALIZED);
        CHECK("C_Initialize", "again, with arguments", LISTS[l]->C_Initialize(&args),
              CKR_CRYPTOKI_ALREADY_INITIALIZED);
    }
}

/* Every step of an operation that was never started. */
static void never_started(CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    const CK_RV want = CKR_OPERATION_NOT_INITIALIZED;
    CK_BYTE in[32] = {0}, out[256];
    CK_ULONG len = sizeof(out), found;
    CK_OBJECT_HANDLE h[4];
#define NOT_STARTED(name, call) CHECK(name, "without its init", (len = sizeof(out), call), want)
    NOT_STARTED("C_Encrypt", f->C_Encrypt(s, in, 16, out, &len));
    NOT_STARTED("C_EncryptUpdate", f->C_EncryptUpdate(s, in, 16, out, &len));
    NOT_STARTED("C_EncryptFinal", f->C_EncryptFinal(s, out, &len));
    NOT_STARTED("C_Decrypt", f->C_Decrypt(s, in, 32, out, &len));
    NOT_STARTED("C_DecryptUpdate", f->C_DecryptUpdate(s, in, 32, out, &len));
    NOT_STARTED("C_DecryptFinal", f->C_DecryptFinal(s, out, &len));
    NOT_STARTED("C_Digest", f->C_Digest(s, in, 16, out, &len));
    NOT_STARTED("C_DigestUpdate", f->C_DigestUpdate(s, in, 16));
    NOT_STARTED("C_DigestKey", f->C_DigestKey(s, ST.aes));
    NOT_STARTED("C_DigestFinal", f->C_DigestFinal(s, out, &len));
    NOT_STARTED("C_Sign", f->C_Sign(s, in, 16, out, &len));
    NOT_STARTED("C_SignUpdate", f->C_SignUpdate(s, in, 16));
    NOT_STARTED("C_SignFinal", f->C_SignFinal(s, out, &len));
    NOT_STARTED("C_Verify", f->C_Verify(s, in, 16, in, 32));
    NOT_STARTED("C_VerifyUpdate", f->C_VerifyUpdate(s, in, 16));
    NOT_STARTED("C_VerifyFinal", f->C_VerifyFinal(s, in, 32));
    NOT_STARTED("C_VerifySignature", P11->C_VerifySignature(s, in, 16));
    NOT_STARTED("C_VerifySignatureUpdate", P11->C_VerifySignatureUpdate(s, in, 16));
    NOT_STARTED("C_VerifySignatureFinal", P11->C_VerifySignatureFinal(s));
    NOT_STARTED("C_DigestEncryptUpdate", f->C_DigestEncryptUpdate(s, in, 16, out, &len));
    NOT_STARTED("C_DecryptDigestUpdate", f->C_DecryptDigestUpdate(s, in, 32, out, &len));
    NOT_STARTED("C_SignEncryptUpdate", f->C_SignEncryptUpdate(s, in, 16, out, &len));
    NOT_STARTED("C_DecryptVerifyUpdate", f->C_DecryptVerifyUpdate(s, in, 32, out, &len));
    NOT_STARTED("C_FindObjects", f->C_FindObjects(s, h, 4, &found));
    NOT_STARTED("C_FindObjectsFinal", f->C_FindObjectsFinal(s));
#undef NOT_STARTED
}

/* Starting what is already active; using what a call ended. */
static void started_twice_and_ended(CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_MECHANISM cbc = mech_of(M_CBC_PAD), sha = mech_of(M_SHA256), ecdsa = mech_of(M_ECDSA);
    CK_BYTE out[256];
    CK_ULONG len;
    prepare(s, P_ENCRYPT);
    CHECK("C_EncryptInit", "while encrypting", f->C_EncryptInit(s, &cbc, ST.aes),
          CKR_OPERATION_ACTIVE);
    len = sizeof(out);
    CHECK("C_Encrypt", "after a refused second init", f->C_Encrypt(s, (CK_BYTE *)PLAIN, 16, out, &len),
          CKR_OK);
    len = sizeof(out);
    CHECK("C_Encrypt", "after the operation ended", f->C_Encrypt(s, (CK_BYTE *)PLAIN, 16, out, &len),
          CKR_OPERATION_NOT_INITIALIZED);

    prepare(s, P_DIGEST);
    CHECK("C_DigestInit", "while digesting", f->C_DigestInit(s, &sha), CKR_OPERATION_ACTIVE);
    len = 1;
    CHECK("C_DigestFinal", "short buffer", f->C_DigestFinal(s, out, &len), CKR_BUFFER_TOO_SMALL);
    if (len != 32)
        fail("C_DigestFinal", "short buffer", "length %lu, want 32", len);
    CHECK("C_DigestFinal", "after a short buffer", f->C_DigestFinal(s, out, &len), CKR_OK);
    CHECK("C_DigestUpdate", "after C_DigestFinal", f->C_DigestUpdate(s, out, 4),
          CKR_OPERATION_NOT_INITIALIZED);

    prepare(s, P_SIGN);
    CHECK("C_SignInit", "while signing", f->C_SignInit(s, &ecdsa, ST.ec_priv), CKR_OPERATION_ACTIVE);
    CHECK("C_SignUpdate", "first part", f->C_SignUpdate(s, (CK_BYTE *)PLAIN, 16), CKR_OK);
    len = sizeof(out);
    /* A single-part call in the middle of a multi-part operation: refused; it may end the
       operation, as any error but a short buffer does. */
    CK_RV rv = (CALLS++, f->C_Sign(s, (CK_BYTE *)PLAIN, 16, out, &len));
    if (rv == CKR_OK)
        fail("C_Sign", "after C_SignUpdate", "got CKR_OK want an error");
    (void)P11->C_SessionCancel(s, CKF_SIGN);

    /* A failed step ends the operation (PKCS#11 3.0 5.2: all but a short buffer or a size
       query). */
    CK_MECHANISM plain_cbc = {CKM_AES_CBC, cbc.pParameter, cbc.ulParameterLen};
    MUST("C_EncryptInit", f->C_EncryptInit(s, &plain_cbc, ST.aes));
    len = sizeof(out);
    CHECK("C_Encrypt", "CBC without padding, 15 bytes", f->C_Encrypt(s, (CK_BYTE *)PLAIN, 15, out, &len),
          CKR_DATA_LEN_RANGE);
    len = sizeof(out);
    CHECK("C_Encrypt", "after a failed C_Encrypt", f->C_Encrypt(s, (CK_BYTE *)PLAIN, 16, out, &len),
          CKR_OPERATION_NOT_INITIALIZED);

    /* A bad argument ends the operation it was for, and no other one of the session. */
    prepare(s, P_VERIFY);
    prepare(s, P_VERIFY_SIG);
    CHECK("C_VerifySignature", "NULL data", P11->C_VerifySignature(s, NULL, 16), CKR_ARGUMENTS_BAD);
    CHECK("C_VerifySignature", "after NULL data", P11->C_VerifySignature(s, (CK_BYTE *)SIGNED_DATA, 64),
          CKR_OPERATION_NOT_INITIALIZED);
    CHECK("C_Verify", "after C_VerifySignature with NULL data",
          f->C_Verify(s, (CK_BYTE *)SIGNED_DATA, 64, ST.sig, ST.sig_len), CKR_OK);
    prepare(s, P_ENCRYPT);
    prepare(s, P_DIGEST);
    CHECK("C_DigestUpdate", "NULL data", f->C_DigestUpdate(s, NULL, 16), CKR_ARGUMENTS_BAD);
    len = sizeof(out);
    CHECK("C_Encrypt", "after C_DigestUpdate with NULL data", f->C_Encrypt(s, (CK_BYTE *)PLAIN, 16, out, &len),
          CKR_OK);

    prepare(s, P_FIND);
    const CK_ATTRIBUTE *t;
    CK_ULONG n = tmpl_of(T_LABEL, &t);
    CHECK("C_FindObjectsInit", "while finding", f->C_FindObjectsInit(s, (CK_ATTRIBUTE *)t, n),
          CKR_OPERATION_ACTIVE);
    CHECK("C_FindObjectsFinal", "once", f->C_FindObjectsFinal(s), CKR_OK);
    CHECK("C_FindObjectsFinal", "twice", f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
}

/* Sessions and objects used after their end; login state in the wrong order. */
static void ended_things(void) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_SESSION_HANDLE s = open_rw(), ro;
    const CK_ATTRIBUTE *t;
    CK_ULONG n = tmpl_of(T_DATA, &t);
    CK_OBJECT_HANDLE obj;
    CK_ULONG size;
    CK_SESSION_INFO info;

    MUST("C_CreateObject", f->C_CreateObject(s, (CK_ATTRIBUTE *)t, n, &obj));
    CHECK("C_DestroyObject", "once", f->C_DestroyObject(s, obj), CKR_OK);
    CHECK("C_DestroyObject", "twice", f->C_DestroyObject(s, obj), CKR_OBJECT_HANDLE_INVALID);
    CHECK("C_GetObjectSize", "destroyed object", f->C_GetObjectSize(s, obj, &size),
          CKR_OBJECT_HANDLE_INVALID);

    MUST("C_CreateObject", f->C_CreateObject(s, (CK_ATTRIBUTE *)t, n, &obj));
    CHECK("C_CloseSession", "once", f->C_CloseSession(s), CKR_OK);
    CHECK("C_GetObjectSize", "object of a closed session", f->C_GetObjectSize(ST.anchor, obj, &size),
          CKR_OBJECT_HANDLE_INVALID);
    CK_RV closed[] = {CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED};
    expect_any("C_CloseSession", "twice", (CALLS++, f->C_CloseSession(s)), closed, 2);
    expect_any("C_GetSessionInfo", "closed session", (CALLS++, f->C_GetSessionInfo(s, &info)),
               closed, 2);

    CHECK("C_InitToken", "with sessions open",
          f->C_InitToken(ST.slot, (CK_BYTE *)SO_PIN, strlen(SO_PIN), (CK_BYTE *)"abuse                           "),
          CKR_SESSION_EXISTS);
    CHECK("C_Login", "user, twice",
          f->C_Login(ST.anchor, CKU_USER, (CK_BYTE *)USER_PIN, strlen(USER_PIN)),
          CKR_USER_ALREADY_LOGGED_IN);
    CHECK("C_Login", "SO while the user is",
          f->C_Login(ST.anchor, CKU_SO, (CK_BYTE *)SO_PIN, strlen(SO_PIN)),
          CKR_USER_ANOTHER_ALREADY_LOGGED_IN);

    MUST("C_OpenSession", f->C_OpenSession(ST.slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE token_obj[] = {t[0], {CKA_TOKEN, &yes, sizeof(yes)}, t[2], t[3]};
    CHECK("C_CreateObject", "token object in a read-only session",
          f->C_CreateObject(ro, token_obj, 4, &obj), CKR_SESSION_READ_ONLY);
    CHECK("C_Logout", "once", f->C_Logout(ro), CKR_OK);
    CHECK("C_Logout", "twice", f->C_Logout(ro), CKR_USER_NOT_LOGGED_IN);
    CK_MECHANISM ecdsa = mech_of(M_ECDSA);
    CK_RV hidden[] = {CKR_KEY_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_OBJECT_HANDLE_INVALID};
    expect_any("C_SignInit", "private key after C_Logout",
               (CALLS++, f->C_SignInit(ro, &ecdsa, ST.ec_priv)), hidden, 3);
    CHECK("C_Login", "SO with a read-only session open",
          f->C_Login(ST.anchor, CKU_SO, (CK_BYTE *)SO_PIN, strlen(SO_PIN)),
          CKR_SESSION_READ_ONLY_EXISTS);
    CHECK("C_CloseAllSessions", "with sessions open", f->C_CloseAllSessions(ST.slot), CKR_OK);
    expect_any("C_GetSessionInfo", "after C_CloseAllSessions",
               (CALLS++, f->C_GetSessionInfo(ST.anchor, &info)), closed, 2);
}

void order_operations(void) {
    ensure_state();
    CK_SESSION_HANDLE s = open_rw();
    never_started(s);
    started_twice_and_ended(s);
    never_started(s);
    MUST("C_CloseSession", P11->v2.C_CloseSession(s));
    ended_things();
    ensure_state();
}

void order_finalize(void) {
    CHECK("C_Finalize", "once", LISTS[0]->C_Finalize(NULL), CKR_OK);
    for (int l = 0; l < 3; l++)
        CHECK("C_Finalize", "twice", LISTS[l]->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
}

void order_reinitialize(void) {
    CK_SESSION_HANDLE old = ST.anchor;
    CK_SESSION_INFO info;
    initialize_with_mutexes();
    CHECK("C_GetSessionInfo", "session of the previous initialization",
          LISTS[2]->C_GetSessionInfo(old, &info), CKR_SESSION_HANDLE_INVALID);
    forget_state();
    ensure_state();
    CHECK("C_Finalize", "with sessions open", LISTS[1]->C_Finalize(NULL), CKR_OK);
    forget_state();
}
