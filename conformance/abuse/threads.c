/*
 * Threads racing over shared state: sessions closed by another thread while in use, logins
 * and logouts, searches, signatures and encryptions, C_CloseAllSessions, and one thread that
 * finalizes and initializes the library again now and then. The standard leaves C_Finalize
 * during other calls undefined; here every call must still return, with anything but
 * CKR_GENERAL_ERROR, and the process must neither crash nor hang.
 */
#include <pthread.h>

#include "common.h"

#define THREADS 4
#define ROUNDS 150

static CK_SESSION_HANDLE SHARED[THREADS];
static CK_OBJECT_HANDLE KEY_AES, KEY_EC;
static unsigned long RACE_CALLS[THREADS];

static void seen(int t, const char *fn, CK_RV rv) {
    RACE_CALLS[t]++;
    if (rv == CKR_GENERAL_ERROR)
        fail(fn, "threads", "got CKR_GENERAL_ERROR want any other code");
}

static void *racer(void *arg) {
    int t = (int)(intptr_t)arg;
    const CK_FUNCTION_LIST *f = &P11->v2;
    unsigned seed = 12345u + (unsigned)t;
    CK_MECHANISM gcm_m, ecdsa = mech_of(M_ECDSA), sha = mech_of(M_SHA256);
    CK_BYTE iv[12] = {0}, out[128];
    CK_GCM_PARAMS gcm = {iv, 12, 96, NULL, 0, 128};
    gcm_m = (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof(gcm)};
    for (int r = 0; r < ROUNDS; r++) {
        /* Handles a failed call did not write stay invalid, never undefined. */
        CK_SESSION_HANDLE mine = __atomic_load_n(&SHARED[t], __ATOMIC_RELAXED), h = CK_INVALID_HANDLE;
        CK_SESSION_HANDLE other = __atomic_load_n(&SHARED[rand_r(&seed) % THREADS], __ATOMIC_RELAXED);
        CK_ULONG len = sizeof(out), n = 0;
        CK_OBJECT_HANDLE found[8];
        int op = rand_r(&seed) % 12;
        if (t == 0 && op == 11 && r % 50 == 49) {
            seen(t, "C_Finalize", f->C_Finalize(NULL));
            seen(t, "C_Initialize", f->C_Initialize(NULL));
            continue;
        }
        switch (op) {
        case 0:
            seen(t, "C_OpenSession", f->C_OpenSession(ST.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
            if (h != CK_INVALID_HANDLE)
                __atomic_store_n(&SHARED[t], h, __ATOMIC_RELAXED);
            break;
        case 1: seen(t, "C_CloseSession", f->C_CloseSession(other)); break;
        case 2: seen(t, "C_Login", f->C_Login(mine, CKU_USER, (CK_BYTE *)USER_PIN, strlen(USER_PIN))); break;
        case 3: seen(t, "C_Logout", f->C_Logout(other)); break;
        case 4:
            seen(t, "C_EncryptInit", f->C_EncryptInit(mine, &gcm_m, KEY_AES));
            seen(t, "C_Encrypt", f->C_Encrypt(mine, (CK_BYTE *)PLAIN, 16, out, &len));
            break;
        case 5:
            seen(t, "C_SignInit", f->C_SignInit(mine, &ecdsa, KEY_EC));
            seen(t, "C_Sign", f->C_Sign(mine, (CK_BYTE *)PLAIN, 16, out, &len));
            break;
        case 6:
            seen(t, "C_FindObjectsInit", f->C_FindObjectsInit(mine, NULL, 0));
            seen(t, "C_FindObjects", f->C_FindObjects(other, found, 8, &n));
            seen(t, "C_FindObjectsFinal", f->C_FindObjectsFinal(mine));
            break;
        case 7:
            seen(t, "C_DigestInit", f->C_DigestInit(other, &sha));
            seen(t, "C_DigestUpdate", f->C_DigestUpdate(mine, (CK_BYTE *)PLAIN, 16));
            seen(t, "C_DigestFinal", f->C_DigestFinal(other, out, &len));
            break;
        case 8: seen(t, "C_CloseAllSessions", f->C_CloseAllSessions(ST.slot)); break;
        case 9: {
            const CK_ATTRIBUTE *a;
            CK_ULONG an = tmpl_of(T_DATA, &a);
            seen(t, "C_CreateObject", f->C_CreateObject(mine, (CK_ATTRIBUTE *)a, an, &h));
            seen(t, "C_DestroyObject", f->C_DestroyObject(other, h));
            break;
        }
        case 10: {
            CK_SESSION_INFO info;
            seen(t, "C_GetSessionInfo", f->C_GetSessionInfo(other, &info));
            seen(t, "C_SessionCancel", P11->C_SessionCancel(other, CKF_ENCRYPT | CKF_SIGN | CKF_DIGEST));
            break;
        }
        default: {
            CK_TOKEN_INFO ti;
            seen(t, "C_GetTokenInfo", f->C_GetTokenInfo(ST.slot, &ti));
            break;
        }
        }
    }
    return NULL;
}

void threads(void) {
    ensure_state();
    KEY_AES = ST.aes;
    KEY_EC = ST.ec_priv;
    for (int t = 0; t < THREADS; t++)
        SHARED[t] = open_rw();
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        if (pthread_create(&th[t], NULL, racer, (void *)(intptr_t)t) != 0) {
            perror("pthread_create");
            exit(1);
        }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CALLS += RACE_CALLS[t];
    }
    /* Whatever the race left, the library must still serve a clean start. */
    CK_INFO info;
    if (P11->v2.C_GetInfo(&info) == CKR_CRYPTOKI_NOT_INITIALIZED)
        MUST("C_Initialize", P11->v2.C_Initialize(NULL));
    CALLS++;
    P11->v2.C_CloseAllSessions(ST.slot);
    forget_state();
    ensure_state();
}
