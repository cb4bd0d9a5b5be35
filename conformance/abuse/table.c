/*
 * Every entry point of every list: the shape of its arguments (see common.h), what a valid
 * call refers to, and the typed call through a list's pointer.
 */
#include "common.h"

#define NOSUP .cls = C_UNSUPPORTED
#define HANDLE .wsize = sizeof(CK_OBJECT_HANDLE)

const struct fn FUNCTIONS[] = {
    {"C_Initialize", F_Initialize, V240, "p", .skip = 2},
    {"C_Finalize", F_Finalize, V240, "r", .skip = 1},
    {"C_GetInfo", F_GetInfo, V240, "w", .wsize = sizeof(CK_INFO)},
    {"C_GetFunctionList", F_GetFunctionList, V240, "w", .wsize = sizeof(void *)},
    {"C_GetSlotList", F_GetSlotList, V240, "bOL", .esize = sizeof(CK_SLOT_ID)},
    {"C_GetSlotInfo", F_GetSlotInfo, V240, "lw", .wsize = sizeof(CK_SLOT_INFO)},
    {"C_GetTokenInfo", F_GetTokenInfo, V240, "lw", .wsize = sizeof(CK_TOKEN_INFO)},
    {"C_GetMechanismList", F_GetMechanismList, V240, "lOL", .esize = sizeof(CK_MECHANISM_TYPE)},
    {"C_GetMechanismInfo", F_GetMechanismInfo, V240, "lMw", .mech = M_CBC_PAD,
     .wsize = sizeof(CK_MECHANISM_INFO)},
    {"C_InitToken", F_InitToken, V240, "linX", .in = D_SO_PIN, .base = CKR_SESSION_EXISTS},
    {"C_InitPIN", F_InitPIN, V240, "sin", .in = D_USER_PIN, .base = CKR_USER_NOT_LOGGED_IN},
    {"C_SetPIN", F_SetPIN, V240, "sinin", .in = D_USER_PIN, .in2 = D_USER_PIN},
    {"C_OpenSession", F_OpenSession, V240, "lfppw", .flags = CKF_SERIAL_SESSION | CKF_RW_SESSION,
     .wsize = sizeof(CK_SESSION_HANDLE)},
    {"C_CloseSession", F_CloseSession, V240, "s", .prep = P_NONE},
    {"C_CloseAllSessions", F_CloseAllSessions, V240, "l", .prep = P_NONE},
    {"C_GetSessionInfo", F_GetSessionInfo, V240, "sw", .wsize = sizeof(CK_SESSION_INFO)},
    {"C_GetOperationState", F_GetOperationState, V240, "sOL", NOSUP},
    {"C_SetOperationState", F_SetOperationState, V240, "sinkk", NOSUP, .in = D_PLAIN,
     .key = K_AES, .key2 = K_AES},
    {"C_Login", F_Login, V240, "suin", .in = D_USER_PIN,
     .base = CKR_USER_ALREADY_LOGGED_IN},
    {"C_Logout", F_Logout, V240, "s", .prep = P_NONE},
    {"C_CreateObject", F_CreateObject, V240, "stcw", .t1 = T_DATA, HANDLE},
    {"C_CopyObject", F_CopyObject, V240, "sotcw", .key = K_SCRATCH, .t1 = T_LABEL, HANDLE},
    {"C_DestroyObject", F_DestroyObject, V240, "so", .key = K_SCRATCH},
    {"C_GetObjectSize", F_GetObjectSize, V240, "sow", .key = K_SCRATCH},
    {"C_GetAttributeValue", F_GetAttributeValue, V240, "sotc", .key = K_SCRATCH, .t1 = T_GET},
    {"C_SetAttributeValue", F_SetAttributeValue, V240, "sotc", .key = K_SCRATCH, .t1 = T_LABEL},
    {"C_FindObjectsInit", F_FindObjectsInit, V240, "stc", .t1 = T_LABEL},
    {"C_FindObjects", F_FindObjects, V240, "sHcw", .prep = P_FIND},
    {"C_FindObjectsFinal", F_FindObjectsFinal, V240, "s", .prep = P_FIND},
    {"C_EncryptInit", F_EncryptInit, V240, "smk", .mech = M_CBC_PAD, .key = K_AES},
    {"C_Encrypt", F_Encrypt, V240, "sinOL", .prep = P_ENCRYPT, .in = D_PLAIN},
    {"C_EncryptUpdate", F_EncryptUpdate, V240, "sinOL", .prep = P_ENCRYPT, .in = D_PLAIN},
    {"C_EncryptFinal", F_EncryptFinal, V240, "sOL", .prep = P_ENCRYPT_FED},
    {"C_DecryptInit", F_DecryptInit, V240, "smk", .mech = M_CBC_PAD, .key = K_AES},
    {"C_Decrypt", F_Decrypt, V240, "sinOL", .prep = P_DECRYPT, .in = D_CIPHER},
    {"C_DecryptUpdate", F_DecryptUpdate, V240, "sinOL", .prep = P_DECRYPT, .in = D_CIPHER},
    {"C_DecryptFinal", F_DecryptFinal, V240, "sOL", .prep = P_DECRYPT_FED},
    {"C_DigestInit", F_DigestInit, V240, "sm", .mech = M_SHA256},
    {"C_Digest", F_Digest, V240, "sinOL", .prep = P_DIGEST, .in = D_PLAIN},
    {"C_DigestUpdate", F_DigestUpdate, V240, "sin", .prep = P_DIGEST, .in = D_PLAIN},
    {"C_DigestKey", F_DigestKey, V240, "sk", .prep = P_DIGEST, .key = K_AES},
    {"C_DigestFinal", F_DigestFinal, V240, "sOL", .prep = P_DIGEST_FED},
    {"C_SignInit", F_SignInit, V240, "smk", .mech = M_ECDSA, .key = K_EC_PRIV},
    {"C_Sign", F_Sign, V240, "sinOL", .prep = P_SIGN, .in = D_SIGNED},
    {"C_SignUpdate", F_SignUpdate, V240, "sin", .prep = P_SIGN, .in = D_SIGNED},
    {"C_SignFinal", F_SignFinal, V240, "sOL", .prep = P_SIGN_FED},
    {"C_SignRecoverInit", F_SignRecoverInit, V240, "smk", NOSUP, .mech = M_ECDSA,
     .key = K_EC_PRIV},
    {"C_SignRecover", F_SignRecover, V240, "sinOL", NOSUP, .in = D_SIGNED},
    {"C_VerifyInit", F_VerifyInit, V240, "smk", .mech = M_ECDSA, .key = K_EC_PUB},
    {"C_Verify", F_Verify, V240, "sinin", .prep = P_VERIFY, .in = D_SIGNED, .in2 = D_SIG},
    {"C_VerifyUpdate", F_VerifyUpdate, V240, "sin", .prep = P_VERIFY, .in = D_SIGNED},
    {"C_VerifyFinal", F_VerifyFinal, V240, "sin", .prep = P_VERIFY_FED, .in = D_SIG},
    {"C_VerifyRecoverInit", F_VerifyRecoverInit, V240, "smk", NOSUP, .mech = M_ECDSA,
     .key = K_EC_PUB},
    {"C_VerifyRecover", F_VerifyRecover, V240, "sinOL", NOSUP, .in = D_SIG},
    {"C_DigestEncryptUpdate", F_DigestEncryptUpdate, V240, "sinOL", .prep = P_DIGEST_ENCRYPT,
     .in = D_PLAIN},
    {"C_DecryptDigestUpdate", F_DecryptDigestUpdate, V240, "sinOL", .prep = P_DECRYPT_DIGEST,
     .in = D_CIPHER},
    {"C_SignEncryptUpdate", F_SignEncryptUpdate, V240, "sinOL", .prep = P_SIGN_ENCRYPT,
     .in = D_PLAIN},
    {"C_DecryptVerifyUpdate", F_DecryptVerifyUpdate, V240, "sinOL", .prep = P_DECRYPT_VERIFY,
     .in = D_CIPHER},
    {"C_GenerateKey", F_GenerateKey, V240, "smtcw", .mech = M_AES_GEN, .t1 = T_AES, HANDLE},
    {"C_GenerateKeyPair", F_GenerateKeyPair, V240, "smtctcww", .mech = M_EC_GEN, .t1 = T_EC_PUB,
     .t2 = T_EC_PRIV, HANDLE},
    {"C_WrapKey", F_WrapKey, V240, "smWkOL", .mech = M_KW, .key = K_AES, .key2 = K_AES2},
    {"C_UnwrapKey", F_UnwrapKey, V240, "smUintcw", .mech = M_KW, .key = K_AES, .in = D_WRAPPED,
     .t1 = T_UNWRAP, HANDLE},
    {"C_DeriveKey", F_DeriveKey, V240, "smktcw", .mech = M_ECDH, .key = K_EC_PRIV,
     .t1 = T_DERIVE, HANDLE},
    {"C_SeedRandom", F_SeedRandom, V240, "sin", .cls = C_NO_SEED, .in = D_PLAIN},
    {"C_GenerateRandom", F_GenerateRandom, V240, "sRn", .prep = P_NONE},
    {"C_GetFunctionStatus", F_GetFunctionStatus, V240, "s", .cls = C_NOT_PARALLEL},
    {"C_CancelFunction", F_CancelFunction, V240, "s", .cls = C_NOT_PARALLEL},
    {"C_WaitForSlotEvent", F_WaitForSlotEvent, V240, "fpr", .flags = CKF_DONT_BLOCK,
     .base = CKR_NO_EVENT},
    {"C_GetInterfaceList", F_GetInterfaceList, V300, "OL", .esize = sizeof(struct iface)},
    {"C_GetInterface", F_GetInterface, V300, "xVwf", .in = D_NAME,
     .wsize = sizeof(struct iface *)},
    {"C_LoginUser", F_LoginUser, V300, "suinin", NOSUP, .in = D_USER_PIN, .in2 = D_NAME},
    {"C_SessionCancel", F_SessionCancel, V300, "sf",
     .flags = CKF_ENCRYPT | CKF_DECRYPT | CKF_DIGEST | CKF_SIGN | CKF_VERIFY | CKF_FIND_OBJECTS},
    {"C_MessageEncryptInit", F_MessageEncryptInit, V300, "smk", NOSUP, .mech = M_CBC_PAD,
     .key = K_AES},
    {"C_EncryptMessage", F_EncryptMessage, V300, "sinininOL", NOSUP, .in = D_PLAIN},
    {"C_EncryptMessageBegin", F_EncryptMessageBegin, V300, "sinin", NOSUP, .in = D_PLAIN},
    {"C_EncryptMessageNext", F_EncryptMessageNext, V300, "sininOLf", NOSUP, .in = D_PLAIN},
    {"C_MessageEncryptFinal", F_MessageEncryptFinal, V300, "s", NOSUP},
    {"C_MessageDecryptInit", F_MessageDecryptInit, V300, "smk", NOSUP, .mech = M_CBC_PAD,
     .key = K_AES},
    {"C_DecryptMessage", F_DecryptMessage, V300, "sinininOL", NOSUP, .in = D_CIPHER},
    {"C_DecryptMessageBegin", F_DecryptMessageBegin, V300, "sinin", NOSUP, .in = D_PLAIN},
    {"C_DecryptMessageNext", F_DecryptMessageNext, V300, "sininOLf", NOSUP, .in = D_CIPHER},
    {"C_MessageDecryptFinal", F_MessageDecryptFinal, V300, "s", NOSUP},
    {"C_MessageSignInit", F_MessageSignInit, V300, "smk", NOSUP, .mech = M_ECDSA,
     .key = K_EC_PRIV},
    {"C_SignMessage", F_SignMessage, V300, "sininOL", NOSUP, .in = D_SIGNED},
    {"C_SignMessageBegin", F_SignMessageBegin, V300, "sin", NOSUP, .in = D_PLAIN},
    {"C_SignMessageNext", F_SignMessageNext, V300, "sininOL", NOSUP, .in = D_SIGNED},
    {"C_MessageSignFinal", F_MessageSignFinal, V300, "s", NOSUP},
    {"C_MessageVerifyInit", F_MessageVerifyInit, V300, "smk", NOSUP, .mech = M_ECDSA,
     .key = K_EC_PUB},
    {"C_VerifyMessage", F_VerifyMessage, V300, "sininin", NOSUP, .in = D_SIGNED},
    {"C_VerifyMessageBegin", F_VerifyMessageBegin, V300, "sin", NOSUP, .in = D_PLAIN},
    {"C_VerifyMessageNext", F_VerifyMessageNext, V300, "sininin", NOSUP, .in = D_SIGNED},
    {"C_MessageVerifyFinal", F_MessageVerifyFinal, V300, "s", NOSUP},
    {"C_EncapsulateKey", F_EncapsulateKey, V320, "smktcOLw", NOSUP, .mech = M_ECDH,
     .key = K_EC_PUB, .t1 = T_DERIVE, HANDLE},
    {"C_DecapsulateKey", F_DecapsulateKey, V320, "smktcinw", NOSUP, .mech = M_ECDH,
     .key = K_EC_PRIV, .t1 = T_DERIVE, .in = D_CIPHER, HANDLE},
    {"C_VerifySignatureInit", F_VerifySignatureInit, V320, "smkin", .mech = M_ECDSA,
     .key = K_EC_PUB, .in = D_SIG},
    {"C_VerifySignature", F_VerifySignature, V320, "sin", .prep = P_VERIFY_SIG, .in = D_SIGNED},
    {"C_VerifySignatureUpdate", F_VerifySignatureUpdate, V320, "sin", .prep = P_VERIFY_SIG,
     .in = D_SIGNED},
    {"C_VerifySignatureFinal", F_VerifySignatureFinal, V320, "s", .prep = P_VERIFY_SIG_FED},
    {"C_GetSessionValidationFlags", F_GetSessionValidationFlags, V320, "sfw", NOSUP},
    {"C_AsyncComplete", F_AsyncComplete, V320, "sxw", NOSUP, .in = D_NAME,
     .wsize = sizeof(struct async_data)},
    {"C_AsyncGetID", F_AsyncGetID, V320, "sxw", NOSUP, .in = D_NAME},
    {"C_AsyncJoin", F_AsyncJoin, V320, "sxfin", NOSUP, .in = D_NAME},
    {"C_WrapKeyAuthenticated", F_WrapKeyAuthenticated, V320, "smWkinOL", NOSUP, .mech = M_KW,
     .key = K_AES, .key2 = K_AES2, .in = D_PLAIN},
    {"C_UnwrapKeyAuthenticated", F_UnwrapKeyAuthenticated, V320, "smUintcinw", NOSUP,
     .mech = M_KW, .key = K_AES, .in = D_WRAPPED, .in2 = D_PLAIN, .t1 = T_UNWRAP, HANDLE},
    {"C_KMS_GetLastError", F_KMS_GetLastError, VKMS, "OL", .prep = P_NONE},
};

const size_t N_FUNCTIONS = sizeof(FUNCTIONS) / sizeof(FUNCTIONS[0]);

int list_has(const struct under_test *ut, const struct fn *f) {
    if (f->since == VKMS)
        return ut->kms != NULL;
    return ut->fl != NULL && ut->version >= f->since;
}

#define U(i) ((CK_ULONG)a[i])
#define B(i) ((CK_BYTE *)a[i])
#define UP(i) ((CK_ULONG *)a[i])
#define M(i) ((CK_MECHANISM *)a[i])
#define T(i) ((CK_ATTRIBUTE *)a[i])
#define H(i) ((CK_OBJECT_HANDLE *)a[i])
#define P(i) ((void *)a[i])

/* A list that lacks a pointer it should carry fails the run; the call is then not made. */
#define CALL(member, ...) (member ? member(__VA_ARGS__) : missing(f))

static CK_RV missing(const struct fn *f) {
    fail(f->name, "function list", "the pointer is NULL");
    return CKR_GENERAL_ERROR;
}

CK_RV dispatch(const struct under_test *ut, const struct fn *f, const arg_t *a) {
    const struct list *L = ut->fl;
    const CK_FUNCTION_LIST *l2 = L ? &L->v2 : NULL;
    CALLS++;
    switch (f->id) {
    case F_Initialize: return CALL(l2->C_Initialize, P(0));
    case F_Finalize: return CALL(l2->C_Finalize, P(0));
    case F_GetInfo: return CALL(l2->C_GetInfo, (CK_INFO *)a[0]);
    case F_GetFunctionList: return CALL(l2->C_GetFunctionList, (CK_FUNCTION_LIST **)a[0]);
    case F_GetSlotList: return CALL(l2->C_GetSlotList, (CK_BBOOL)a[0], (CK_SLOT_ID *)a[1], UP(2));
    case F_GetSlotInfo: return CALL(l2->C_GetSlotInfo, U(0), (CK_SLOT_INFO *)a[1]);
    case F_GetTokenInfo: return CALL(l2->C_GetTokenInfo, U(0), (CK_TOKEN_INFO *)a[1]);
    case F_GetMechanismList: return CALL(l2->C_GetMechanismList, U(0), UP(1), UP(2));
    case F_GetMechanismInfo:
        return CALL(l2->C_GetMechanismInfo, U(0), U(1), (CK_MECHANISM_INFO *)a[2]);
    case F_InitToken: return CALL(l2->C_InitToken, U(0), B(1), U(2), B(3));
    case F_InitPIN: return CALL(l2->C_InitPIN, U(0), B(1), U(2));
    case F_SetPIN: return CALL(l2->C_SetPIN, U(0), B(1), U(2), B(3), U(4));
    case F_OpenSession:
        return CALL(l2->C_OpenSession, U(0), U(1), P(2), (CK_NOTIFY)P(3), H(4));
    case F_CloseSession: return CALL(l2->C_CloseSession, U(0));
    case F_CloseAllSessions: return CALL(l2->C_CloseAllSessions, U(0));
    case F_GetSessionInfo: return CALL(l2->C_GetSessionInfo, U(0), (CK_SESSION_INFO *)a[1]);
    case F_GetOperationState: return CALL(l2->C_GetOperationState, U(0), B(1), UP(2));
    case F_SetOperationState:
        return CALL(l2->C_SetOperationState, U(0), B(1), U(2), U(3), U(4));
    case F_Login: return CALL(l2->C_Login, U(0), U(1), B(2), U(3));
    case F_Logout: return CALL(l2->C_Logout, U(0));
    case F_CreateObject: return CALL(l2->C_CreateObject, U(0), T(1), U(2), H(3));
    case F_CopyObject: return CALL(l2->C_CopyObject, U(0), U(1), T(2), U(3), H(4));
    case F_DestroyObject: return CALL(l2->C_DestroyObject, U(0), U(1));
    case F_GetObjectSize: return CALL(l2->C_GetObjectSize, U(0), U(1), UP(2));
    case F_GetAttributeValue: return CALL(l2->C_GetAttributeValue, U(0), U(1), T(2), U(3));
    case F_SetAttributeValue: return CALL(l2->C_SetAttributeValue, U(0), U(1), T(2), U(3));
    case F_FindObjectsInit: return CALL(l2->C_FindObjectsInit, U(0), T(1), U(2));
    case F_FindObjects: return CALL(l2->C_FindObjects, U(0), H(1), U(2), UP(3));
    case F_FindObjectsFinal: return CALL(l2->C_FindObjectsFinal, U(0));
    case F_EncryptInit: return CALL(l2->C_EncryptInit, U(0), M(1), U(2));
    case F_Encrypt: return CALL(l2->C_Encrypt, U(0), B(1), U(2), B(3), UP(4));
    case F_EncryptUpdate: return CALL(l2->C_EncryptUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_EncryptFinal: return CALL(l2->C_EncryptFinal, U(0), B(1), UP(2));
    case F_DecryptInit: return CALL(l2->C_DecryptInit, U(0), M(1), U(2));
    case F_Decrypt: return CALL(l2->C_Decrypt, U(0), B(1), U(2), B(3), UP(4));
    case F_DecryptUpdate: return CALL(l2->C_DecryptUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_DecryptFinal: return CALL(l2->C_DecryptFinal, U(0), B(1), UP(2));
    case F_DigestInit: return CALL(l2->C_DigestInit, U(0), M(1));
    case F_Digest: return CALL(l2->C_Digest, U(0), B(1), U(2), B(3), UP(4));
    case F_DigestUpdate: return CALL(l2->C_DigestUpdate, U(0), B(1), U(2));
    case F_DigestKey: return CALL(l2->C_DigestKey, U(0), U(1));
    case F_DigestFinal: return CALL(l2->C_DigestFinal, U(0), B(1), UP(2));
    case F_SignInit: return CALL(l2->C_SignInit, U(0), M(1), U(2));
    case F_Sign: return CALL(l2->C_Sign, U(0), B(1), U(2), B(3), UP(4));
    case F_SignUpdate: return CALL(l2->C_SignUpdate, U(0), B(1), U(2));
    case F_SignFinal: return CALL(l2->C_SignFinal, U(0), B(1), UP(2));
    case F_SignRecoverInit: return CALL(l2->C_SignRecoverInit, U(0), M(1), U(2));
    case F_SignRecover: return CALL(l2->C_SignRecover, U(0), B(1), U(2), B(3), UP(4));
    case F_VerifyInit: return CALL(l2->C_VerifyInit, U(0), M(1), U(2));
    case F_Verify: return CALL(l2->C_Verify, U(0), B(1), U(2), B(3), U(4));
    case F_VerifyUpdate: return CALL(l2->C_VerifyUpdate, U(0), B(1), U(2));
    case F_VerifyFinal: return CALL(l2->C_VerifyFinal, U(0), B(1), U(2));
    case F_VerifyRecoverInit: return CALL(l2->C_VerifyRecoverInit, U(0), M(1), U(2));
    case F_VerifyRecover: return CALL(l2->C_VerifyRecover, U(0), B(1), U(2), B(3), UP(4));
    case F_DigestEncryptUpdate:
        return CALL(l2->C_DigestEncryptUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_DecryptDigestUpdate:
        return CALL(l2->C_DecryptDigestUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_SignEncryptUpdate:
        return CALL(l2->C_SignEncryptUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_DecryptVerifyUpdate:
        return CALL(l2->C_DecryptVerifyUpdate, U(0), B(1), U(2), B(3), UP(4));
    case F_GenerateKey: return CALL(l2->C_GenerateKey, U(0), M(1), T(2), U(3), H(4));
    case F_GenerateKeyPair:
        return CALL(l2->C_GenerateKeyPair, U(0), M(1), T(2), U(3), T(4), U(5), H(6), H(7));
    case F_WrapKey: return CALL(l2->C_WrapKey, U(0), M(1), U(2), U(3), B(4), UP(5));
    case F_UnwrapKey:
        return CALL(l2->C_UnwrapKey, U(0), M(1), U(2), B(3), U(4), T(5), U(6), H(7));
    case F_DeriveKey: return CALL(l2->C_DeriveKey, U(0), M(1), U(2), T(3), U(4), H(5));
    case F_SeedRandom: return CALL(l2->C_SeedRandom, U(0), B(1), U(2));
    case F_GenerateRandom: return CALL(l2->C_GenerateRandom, U(0), B(1), U(2));
    case F_GetFunctionStatus: return CALL(l2->C_GetFunctionStatus, U(0));
    case F_CancelFunction: return CALL(l2->C_CancelFunction, U(0));
    case F_WaitForSlotEvent: return CALL(l2->C_WaitForSlotEvent, U(0), (CK_SLOT_ID *)a[1], P(2));
    case F_GetInterfaceList: return CALL(L->C_GetInterfaceList, (struct iface *)a[0], UP(1));
    case F_GetInterface:
        return CALL(L->C_GetInterface, B(0), (CK_VERSION *)a[1], (struct iface **)a[2], U(3));
    case F_LoginUser: return CALL(L->C_LoginUser, U(0), U(1), B(2), U(3), B(4), U(5));
    case F_SessionCancel: return CALL(L->C_SessionCancel, U(0), U(1));
    case F_MessageEncryptInit: return CALL(L->C_MessageEncryptInit, U(0), M(1), U(2));
    case F_EncryptMessage:
        return CALL(L->C_EncryptMessage, U(0), P(1), U(2), B(3), U(4), B(5), U(6), B(7), UP(8));
    case F_EncryptMessageBegin:
        return CALL(L->C_EncryptMessageBegin, U(0), P(1), U(2), B(3), U(4));
    case F_EncryptMessageNext:
        return CALL(L->C_EncryptMessageNext, U(0), P(1), U(2), B(3), U(4), B(5), UP(6), U(7));
    case F_MessageEncryptFinal: return CALL(L->C_MessageEncryptFinal, U(0));
    case F_MessageDecryptInit: return CALL(L->C_MessageDecryptInit, U(0), M(1), U(2));
    case F_DecryptMessage:
        return CALL(L->C_DecryptMessage, U(0), P(1), U(2), B(3), U(4), B(5), U(6), B(7), UP(8));
    case F_DecryptMessageBegin:
        return CALL(L->C_DecryptMessageBegin, U(0), P(1), U(2), B(3), U(4));
    case F_DecryptMessageNext:
        return CALL(L->C_DecryptMessageNext, U(0), P(1), U(2), B(3), U(4), B(5), UP(6), U(7));
    case F_MessageDecryptFinal: return CALL(L->C_MessageDecryptFinal, U(0));
    case F_MessageSignInit: return CALL(L->C_MessageSignInit, U(0), M(1), U(2));
    case F_SignMessage: return CALL(L->C_SignMessage, U(0), P(1), U(2), B(3), U(4), B(5), UP(6));
    case F_SignMessageBegin: return CALL(L->C_SignMessageBegin, U(0), P(1), U(2));
    case F_SignMessageNext:
        return CALL(L->C_SignMessageNext, U(0), P(1), U(2), B(3), U(4), B(5), UP(6));
    case F_MessageSignFinal: return CALL(L->C_MessageSignFinal, U(0));
    case F_MessageVerifyInit: return CALL(L->C_MessageVerifyInit, U(0), M(1), U(2));
    case F_VerifyMessage:
        return CALL(L->C_VerifyMessage, U(0), P(1), U(2), B(3), U(4), B(5), U(6));
    case F_VerifyMessageBegin: return CALL(L->C_VerifyMessageBegin, U(0), P(1), U(2));
    case F_VerifyMessageNext:
        return CALL(L->C_VerifyMessageNext, U(0), P(1), U(2), B(3), U(4), B(5), U(6));
    case F_MessageVerifyFinal: return CALL(L->C_MessageVerifyFinal, U(0));
    case F_EncapsulateKey:
        return CALL(L->C_EncapsulateKey, U(0), M(1), U(2), T(3), U(4), B(5), UP(6), H(7));
    case F_DecapsulateKey:
        return CALL(L->C_DecapsulateKey, U(0), M(1), U(2), T(3), U(4), B(5), U(6), H(7));
    case F_VerifySignatureInit:
        return CALL(L->C_VerifySignatureInit, U(0), M(1), U(2), B(3), U(4));
    case F_VerifySignature: return CALL(L->C_VerifySignature, U(0), B(1), U(2));
    case F_VerifySignatureUpdate: return CALL(L->C_VerifySignatureUpdate, U(0), B(1), U(2));
    case F_VerifySignatureFinal: return CALL(L->C_VerifySignatureFinal, U(0));
    case F_GetSessionValidationFlags:
        return CALL(L->C_GetSessionValidationFlags, U(0), U(1), UP(2));
    case F_AsyncComplete:
        return CALL(L->C_AsyncComplete, U(0), B(1), (struct async_data *)a[2]);
    case F_AsyncGetID: return CALL(L->C_AsyncGetID, U(0), B(1), UP(2));
    case F_AsyncJoin: return CALL(L->C_AsyncJoin, U(0), B(1), U(2), B(3), U(4));
    case F_WrapKeyAuthenticated:
        return CALL(L->C_WrapKeyAuthenticated, U(0), M(1), U(2), U(3), B(4), U(5), B(6), UP(7));
    case F_UnwrapKeyAuthenticated:
        return CALL(L->C_UnwrapKeyAuthenticated, U(0), M(1), U(2), B(3), U(4), T(5), U(6),
                    B(7), U(8), H(9));
    case F_KMS_GetLastError: return CALL(ut->kms->C_KMS_GetLastError, B(0), UP(1));
    }
    fail(f->name, "dispatch", "no call for this function");
    return CKR_GENERAL_ERROR;
}
