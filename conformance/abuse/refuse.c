/*
 * Refusals whose code the standard names: writes in read-only sessions, keys used for what
 * their attributes forbid, a login that conflicts with a session, C_Initialize with the
 * caller's mutex functions.
 */
#include "common.h"

static const CK_FUNCTION_LIST *F;

static void read_only(void) {
    CK_SESSION_HANDLE ro;
    CK_BBOOL yes = CK_TRUE;
    CK_OBJECT_HANDLE h;
    MUST("C_OpenSession", F->C_OpenSession(ST.slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
    CHECK("C_SetPIN", "read-only session",
          F->C_SetPIN(ro, (CK_BYTE *)USER_PIN, strlen(USER_PIN), (CK_BYTE *)USER_PIN, strlen(USER_PIN)),
          CKR_SESSION_READ_ONLY);
    CK_ULONG len = 16;
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ATTRIBUTE token_key[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, 1}};
    CK_MECHANISM gen = mech_of(M_AES_GEN);
    CHECK("C_GenerateKey", "token key in a read-only session", F->C_GenerateKey(ro, &gen, token_key, 4, &h),
          CKR_SESSION_READ_ONLY);
    /* A token object made elsewhere cannot be destroyed or changed from a read-only session. */
    CK_SESSION_HANDLE rw = open_rw();
    MUST("C_GenerateKey", F->C_GenerateKey(rw, &gen, token_key, 4, &h));
    CHECK("C_DestroyObject", "token object from a read-only session", F->C_DestroyObject(ro, h),
          CKR_SESSION_READ_ONLY);
    CK_BYTE label[] = {'x'};
    CK_ATTRIBUTE relabel = {CKA_LABEL, label, 1};
    CHECK("C_SetAttributeValue", "token object from a read-only session",
          F->C_SetAttributeValue(ro, h, &relabel, 1), CKR_SESSION_READ_ONLY);
    MUST("C_DestroyObject", F->C_DestroyObject(rw, h));
    MUST("C_CloseSession", F->C_CloseSession(rw));
    MUST("C_CloseSession", F->C_CloseSession(ro));
}

static void forbidden_uses(void) {
    CK_SESSION_HANDLE s = open_rw();
    CK_MECHANISM ecdsa = mech_of(M_ECDSA), cbc = mech_of(M_CBC_PAD), sha = mech_of(M_SHA256);
    /* ST.aes2 may encrypt, not decrypt; ST.ec_pub verifies. */
    CHECK("C_DecryptInit", "key without CKA_DECRYPT", F->C_DecryptInit(s, &cbc, ST.aes2),
          CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_RV wrong_key[] = {CKR_KEY_TYPE_INCONSISTENT, CKR_KEY_FUNCTION_NOT_PERMITTED};
    expect_any("C_SignInit", "public key", (CALLS++, F->C_SignInit(s, &ecdsa, ST.ec_pub)), wrong_key, 2);
    expect_any("C_EncryptInit", "EC key for AES", (CALLS++, F->C_EncryptInit(s, &cbc, ST.ec_pub)), wrong_key, 2);
    CK_MECHANISM kw = mech_of(M_KW);
    CK_BYTE out[64];
    CK_ULONG len = sizeof(out);
    CHECK("C_WrapKey", "key without CKA_EXTRACTABLE", F->C_WrapKey(s, &kw, ST.aes, ST.ec_priv, out, &len),
          CKR_KEY_UNEXTRACTABLE);
    MUST("C_DigestInit", F->C_DigestInit(s, &sha));
    CK_RV indigestible[] = {CKR_KEY_INDIGESTIBLE, CKR_KEY_FUNCTION_NOT_PERMITTED};
    expect_any("C_DigestKey", "sensitive private key", (CALLS++, F->C_DigestKey(s, ST.ec_priv)),
               indigestible, 2);
    MUST("C_CloseSession", F->C_CloseSession(s));
}

static void so_and_read_only(void) {
    CK_SESSION_HANDLE ro, s;
    CHECK("C_CloseAllSessions", "before the SO logs in", F->C_CloseAllSessions(ST.slot), CKR_OK);
    forget_state();
    MUST("C_OpenSession", F->C_OpenSession(ST.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
    CHECK("C_Login", "SO", F->C_Login(s, CKU_SO, (CK_BYTE *)SO_PIN, strlen(SO_PIN)), CKR_OK);
    CHECK("C_OpenSession", "read-only while the SO is logged in",
          F->C_OpenSession(ST.slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_SESSION_READ_WRITE_SO_EXISTS);
    CHECK("C_Login", "user while the SO is",
          F->C_Login(s, CKU_USER, (CK_BYTE *)USER_PIN, strlen(USER_PIN)), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    CHECK("C_Logout", "SO", F->C_Logout(s), CKR_OK);
    MUST("C_CloseSession", F->C_CloseSession(s));
    ensure_state();
}

static CK_RV create_mutex(void **m) {
    *m = malloc(1);
    return *m ? CKR_OK : CKR_HOST_MEMORY;
}
static CK_RV destroy_mutex(void *m) {
    free(m);
    return CKR_OK;
}
static CK_RV lock_mutex(void *m) {
    (void)m;
    return CKR_OK;
}

/* With the library finalized: the caller's mutexes offered along with OS locking. */
void initialize_with_mutexes(void) {
    CK_C_INITIALIZE_ARGS args = {create_mutex, destroy_mutex, lock_mutex, lock_mutex, CKF_OS_LOCKING_OK, NULL};
    CHECK("C_Initialize", "the caller's mutexes and CKF_OS_LOCKING_OK", P11->v2.C_Initialize(&args), CKR_OK);
}

void refusals(void) {
    F = &P11->v2;
    ensure_state();
    read_only();
    forbidden_uses();
    so_and_read_only();
}
