/*
 * Shared declarations of the abuse program: the table of every entry point with the shape of
 * its arguments, the calls built from it, the keys and data of the logged-in state, the parts
 * of the run, and the checks. list.h declares the function lists.
 */
#ifndef ABUSE_COMMON_H
#define ABUSE_COMMON_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "kms_pkcs11.h"
#include "list.h"

/* The PINs conformance/lib.sh gives the token. */
#define SO_PIN "12345678"
#define USER_PIN "1234"

#ifndef CKF_FIND_OBJECTS
#define CKF_FIND_OBJECTS 0x40UL
#endif
#ifndef CKR_TOKEN_RESOURCE_EXCEEDED
#define CKR_TOKEN_RESOURCE_EXCEEDED 0x201UL
#endif

/* Which list a function comes from: its version, or the vendor list. */
enum { V240 = 240, V300 = 300, V320 = 320, VKMS = 1 };

/* One list under test: where it came from, and the version it reports. */
struct under_test {
    const char *label;
    const struct list *fl;
    const CK_KMS_FUNCTION_LIST *kms;
    int version;
};

/*
 * An entry point and the shape of its arguments, one letter per C parameter:
 *   s session   l slot   o object   k key   W wrapping key   U unwrapping key
 *   m CK_MECHANISM*   M mechanism type   i input bytes, n its length
 *   O output bytes (NULL: size query), L its length in/out   R output of length n
 *   w required out pointer (info, handle, count)   t template, c its count
 *   H handle array, c its capacity   f flags   u user type   b CK_BBOOL
 *   r reserved pointer (must be NULL)   p pointer the function may ignore
 *   x optional interface name   V optional version   X 32-byte label
 */
enum expect_class {
    C_NORMAL,      /* implemented: argument rules apply */
    C_UNSUPPORTED, /* CKR_FUNCTION_NOT_SUPPORTED once the session is known */
    C_NOT_PARALLEL,
    C_NO_SEED,
};

/* The operations a function needs active in its session; "fed" ones have had their data, so
   that the final step has something to finish. */
enum prep {
    P_NONE, P_ENCRYPT, P_DECRYPT, P_DIGEST, P_SIGN, P_VERIFY, P_FIND, P_VERIFY_SIG,
    P_DIGEST_ENCRYPT, P_DECRYPT_DIGEST, P_SIGN_ENCRYPT, P_DECRYPT_VERIFY,
    P_ENCRYPT_FED, P_DECRYPT_FED, P_DIGEST_FED, P_SIGN_FED, P_VERIFY_FED, P_VERIFY_SIG_FED,
};

/* What a function's arguments refer to, beyond the defaults of their letters. */
enum data { D_NONE, D_PLAIN, D_SIGNED, D_CIPHER, D_SIG, D_WRAPPED, D_SO_PIN, D_USER_PIN, D_NAME };
enum tmpl { T_NONE, T_DATA, T_LABEL, T_GET, T_AES, T_EC_PUB, T_EC_PRIV, T_UNWRAP, T_DERIVE };
enum key { K_NONE, K_AES, K_AES2, K_EC_PRIV, K_EC_PUB, K_SCRATCH };
enum mech { M_NONE, M_CBC_PAD, M_SHA256, M_ECDSA, M_AES_GEN, M_EC_GEN, M_KW, M_ECDH };

/* Every entry point, in the order of the 3.2 list, then the vendor one. */
enum fn_id {
    F_Initialize, F_Finalize, F_GetInfo, F_GetFunctionList, F_GetSlotList, F_GetSlotInfo,
    F_GetTokenInfo, F_GetMechanismList, F_GetMechanismInfo, F_InitToken, F_InitPIN, F_SetPIN,
    F_OpenSession, F_CloseSession, F_CloseAllSessions, F_GetSessionInfo, F_GetOperationState,
    F_SetOperationState, F_Login, F_Logout, F_CreateObject, F_CopyObject, F_DestroyObject,
    F_GetObjectSize, F_GetAttributeValue, F_SetAttributeValue, F_FindObjectsInit, F_FindObjects,
    F_FindObjectsFinal, F_EncryptInit, F_Encrypt, F_EncryptUpdate, F_EncryptFinal, F_DecryptInit,
    F_Decrypt, F_DecryptUpdate, F_DecryptFinal, F_DigestInit, F_Digest, F_DigestUpdate,
    F_DigestKey, F_DigestFinal, F_SignInit, F_Sign, F_SignUpdate, F_SignFinal, F_SignRecoverInit,
    F_SignRecover, F_VerifyInit, F_Verify, F_VerifyUpdate, F_VerifyFinal, F_VerifyRecoverInit,
    F_VerifyRecover, F_DigestEncryptUpdate, F_DecryptDigestUpdate, F_SignEncryptUpdate,
    F_DecryptVerifyUpdate, F_GenerateKey, F_GenerateKeyPair, F_WrapKey, F_UnwrapKey, F_DeriveKey,
    F_SeedRandom, F_GenerateRandom, F_GetFunctionStatus, F_CancelFunction, F_WaitForSlotEvent,
    F_GetInterfaceList, F_GetInterface, F_LoginUser, F_SessionCancel, F_MessageEncryptInit,
    F_EncryptMessage, F_EncryptMessageBegin, F_EncryptMessageNext, F_MessageEncryptFinal,
    F_MessageDecryptInit, F_DecryptMessage, F_DecryptMessageBegin, F_DecryptMessageNext,
    F_MessageDecryptFinal, F_MessageSignInit, F_SignMessage, F_SignMessageBegin,
    F_SignMessageNext, F_MessageSignFinal, F_MessageVerifyInit, F_VerifyMessage,
    F_VerifyMessageBegin, F_VerifyMessageNext, F_MessageVerifyFinal, F_EncapsulateKey,
    F_DecapsulateKey, F_VerifySignatureInit, F_VerifySignature, F_VerifySignatureUpdate,
    F_VerifySignatureFinal, F_GetSessionValidationFlags, F_AsyncComplete, F_AsyncGetID,
    F_AsyncJoin, F_WrapKeyAuthenticated, F_UnwrapKeyAuthenticated, F_KMS_GetLastError,
};

struct fn {
    const char *name;
    int id;
    int since;
    const char *shape;
    enum expect_class cls;
    enum prep prep;
    enum mech mech;
    enum key key, key2;
    enum data in, in2;
    enum tmpl t1, t2;
    CK_ULONG flags;
    CK_RV base;   /* what the valid call returns, when not CKR_OK */
    size_t wsize; /* bytes behind a 'w' pointer; a CK_ULONG when 0 */
    size_t esize; /* bytes of an element of an 'O' array; 1 when 0 */
    int skip;     /* 1: the valid call would end the run (C_Finalize); 2: never swept */
};

extern const struct fn FUNCTIONS[];
extern const size_t N_FUNCTIONS;

/* Calls a function of a list with arguments as integers of pointer width. */
typedef uintptr_t arg_t;
#define MAX_ARGS 12
CK_RV dispatch(const struct under_test *ut, const struct fn *f, const arg_t *a);
/* Whether the list carries the function. */
int list_has(const struct under_test *ut, const struct fn *f);

/* One call under test: its arguments, and the heap blocks they point to, each of the exact
   size the call is told, so that valgrind sees any access past them. */
struct call {
    const struct fn *f;
    arg_t a[MAX_ARGS];
    void *blocks[256];
    int n_blocks;
    CK_SESSION_HANDLE work; /* a fresh session, with the operation the function needs */
    int own_work;           /* `work` was opened for this call */
    int live;               /* the library is initialized */
};

/* Builds the valid call of `f` (args.c), in a session of its own with the operation `f`
   needs started, or (call_open_in) in `session` as it is. */
void call_open(struct call *c, const struct fn *f, int live);
void call_open_in(struct call *c, const struct fn *f, int live, CK_SESSION_HANDLE session);
/* Frees the blocks and closes what the call opened; `rv` is what the call returned. */
void call_close(struct call *c, CK_RV rv);
/* A heap copy of `n` bytes of `src` (or of a filler when `src` is NULL). */
void *call_block(struct call *c, const void *src, size_t n);
/* A heap block of `n` bytes never written, which valgrind reports when a branch reads it. */
void *call_undefined(struct call *c, size_t n);

/* --- The state the valid calls stand on (keys.c), and the correct flow (flow.c). -------- */

struct state {
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE anchor; /* keeps the login and the session keys alive */
    CK_OBJECT_HANDLE aes, aes2, ec_priv, ec_pub;
    CK_BYTE cipher[64];
    CK_ULONG cipher_len;
    CK_BYTE sig[128];
    CK_ULONG sig_len;
    CK_BYTE wrapped[64];
    CK_ULONG wrapped_len;
    CK_BYTE ec_point[80]; /* uncompressed point, for ECDH */
    CK_ULONG ec_point_len;
};

extern struct state ST;
extern const CK_BYTE PLAIN[16];
extern const CK_BYTE SIGNED_DATA[64];

/* The 3.2 list, for set-up calls whose list does not matter, and the vendor list. */
extern const struct list *P11;
extern const CK_KMS_FUNCTION_LIST *KMS;

/* Runs the correct flow: token, PIN, login, keys, every operation. */
void flow(void);
/* A step that writes output with the size-query convention. */
typedef CK_RV (*out_fn)(void *ctx, CK_BYTE *out, CK_ULONG *len);
struct io {
    CK_SESSION_HANDLE s;
    const CK_BYTE *in;
    CK_ULONG in_len;
};
/* Runs a step three times: size query, zero-length buffer, real buffer of `cap` bytes; the
   step's operation must stay active after the first two. Returns the output length. */
CK_ULONG sized(const char *name, out_fn step, void *ctx, CK_BYTE *out, CK_ULONG cap);
/* Overlapping input and output buffers (inplace.c). */
void in_place(void);
/* A fork with the library initialized (fork.c). */
void fork_child(void);
/* The object part of the flow (objects.c): find, attributes, wrap and unwrap, derive,
   destroy, and the lists with the size-query convention. */
void flow_objects(CK_SESSION_HANDLE s);
/* Makes sure the anchor session is open and logged in, with the keys; recreates what a call
   under test (C_Logout, C_CloseAllSessions) tore down. */
void ensure_state(void);
/* Forgets the state: after C_Finalize every handle is stale. */
void forget_state(void);
CK_SESSION_HANDLE open_rw(void);
CK_MECHANISM mech_of(enum mech m);
/* The attributes of a template; returns their number. */
CK_ULONG tmpl_of(enum tmpl t, const CK_ATTRIBUTE **attrs);
/* Starts the operations `p` names in a session. */
void prepare(CK_SESSION_HANDLE s, enum prep p);

/* Wrong call orders (order.c): C_Initialize's arguments before it runs; C_Initialize twice;
   operations in wrong orders (after the flow); C_Finalize twice; initializing again. */
void order_before_init(void);
void order_initialize(void);
void order_operations(void);
void order_finalize(void);
void order_reinitialize(void);
/* Refusals whose code the standard names (refuse.c), and C_Initialize with the caller's
   mutex functions. */
void refusals(void);
void initialize_with_mutexes(void);

/* Every function of a list with every bad argument (nulls.c); `live`: the library runs. */
void sweep(const struct under_test *ut, int live);

/* The mechanism matrix (mechs.c): every listed mechanism, every operation its info names,
   every key, data of odd lengths, every bad parameter structure. */
void mechanisms(void);
/* Every attribute type with odd values in templates of every object class (attrs.c). */
void templates(void);
/* Key generation, unwrapping, wrapping and derivation with odd inputs (keygen.c, derive.c). */
void key_management(void);
void derive(CK_SESSION_HANDLE s, const CK_OBJECT_HANDLE *keys, size_t n_keys);
/* Threads racing over sessions, logins and C_Finalize (threads.c). */
void threads(void);
/* One key of each type (keyset.c), made in session `s`; returns how many. In this order:
   AES-256, AES-128, generic secret, SM4, EC private and public, RSA private and public, SM2
   private and public, a token AES key. */
enum { KEY_EC_PRIV = 4, KEY_SM2_PRIV = 8 };
#define MAX_KEYS 16
size_t make_keys(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *keys);
/* The slot's mechanism list (keyset.c), in a malloc'ed array the caller frees; `n` gets its
   length. */
CK_MECHANISM_TYPE *mechanism_list(CK_ULONG *n);
/* Mechanism parameters (params.c), in the blocks of `c`: the valid one of a type, and bad
   ones of the structure a type takes (and of none, for every type). */
struct param {
    const char *what;
    void *p;
    CK_ULONG len;
};
CK_MECHANISM valid_mech(struct call *c, CK_MECHANISM_TYPE t);
size_t bad_params(struct call *c, CK_MECHANISM_TYPE t, struct param *out, size_t cap);

/* What a call with a bad argument leaves in its valid session (after.c): the operation it
   continued ended, or going on after a short buffer or a size query (`query`); no operation
   started by a failed init; no object made by a failed call (`objects`: the count before). */
void after_bad_call(const struct under_test *ut, const struct call *bad, const char *what,
                    CK_RV rv, int query, CK_RV base, CK_ULONG objects);
/* The objects a session sees; whether `f` makes objects. */
CK_ULONG count_objects(CK_SESSION_HANDLE s);
int makes_objects(const struct fn *f);

/* Soak loop (soak.c). */
int soak(long n);

/* --- Checks (main.c). ------------------------------------------------------------------ */

extern unsigned long CALLS;
extern unsigned long FAILURES;

const char *rv_name(CK_RV rv);
/* Records a failure unless `got` is `want`. */
void expect(const char *fn, const char *what, CK_RV got, CK_RV want);
/* Records a failure unless `got` is one of the `n` codes. */
void expect_any(const char *fn, const char *what, CK_RV got, const CK_RV *want, size_t n);
void fail(const char *fn, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Stops the run: the state later checks need could not be made. */
void fatal(const char *fn, const char *what, CK_RV rv) __attribute__((noreturn));

#define CHECK(fn, what, call, want) expect(fn, what, (CALLS++, (call)), want)
/* A set-up call that must succeed. */
#define MUST(fn, call)                                                                          \
    do {                                                                                        \
        CK_RV must_rv_ = (CALLS++, (call));                                                     \
        if (must_rv_ != CKR_OK)                                                                 \
            fatal(fn, "set-up", must_rv_);                                                      \
    } while (0)

#endif
