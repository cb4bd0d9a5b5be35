/*
 * Soak: N mixed operations in turn (AES-GCM encryption and decryption, ECDSA signature and
 * verification, a digest, a search, a session object made and destroyed, a session opened
 * and closed), each checked. The resident set is read after a warm-up of N/10 operations and
 * at the end; growing by more than 8 MiB in between fails the run.
 */
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_GROWTH_KIB (8 * 1024)

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) {
        perror("/proc/self/statm");
        exit(1);
    }
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define OK(name, call)                                                                          \
    do {                                                                                        \
        CK_RV ok_rv_ = (CALLS++, (call));                                                       \
        if (ok_rv_ != CKR_OK) {                                                                 \
            fail(name, "soak", "operation %ld: got %s want CKR_OK", i, rv_name(ok_rv_));        \
            return 1;                                                                           \
        }                                                                                       \
    } while (0)

/* One operation of kind i % 8 in session s; returns non-zero on failure. */
static int step(long i, CK_SESSION_HANDLE s) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    static CK_BYTE ct[64], sig[80], out[64];
    static CK_ULONG ct_len, sig_len;
    CK_BYTE iv[12] = {0};
    memcpy(iv, &i, sizeof(i));
    CK_GCM_PARAMS gcm = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m_gcm = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    CK_MECHANISM m_ecdsa = mech_of(M_ECDSA), m_sha = mech_of(M_SHA256);
    CK_ULONG len = sizeof(out), found;
    CK_OBJECT_HANDLE h[8];
    const CK_ATTRIBUTE *t;
    CK_ULONG tn;
    switch (i % 8) {
    case 0:
        OK("C_EncryptInit", f->C_EncryptInit(s, &m_gcm, ST.aes));
        ct_len = sizeof(ct);
        OK("C_Encrypt", f->C_Encrypt(s, (CK_BYTE *)PLAIN, sizeof(PLAIN), ct, &ct_len));
        return 0;
    case 1: {
        /* The IV of the previous operation, which encrypted. */
        long prev = i - 1;
        memcpy(iv, &prev, sizeof(prev));
        OK("C_DecryptInit", f->C_DecryptInit(s, &m_gcm, ST.aes));
        OK("C_Decrypt", f->C_Decrypt(s, ct, ct_len, out, &len));
        if (len != sizeof(PLAIN) || memcmp(out, PLAIN, len) != 0) {
            fail("C_Decrypt", "soak", "operation %ld: round trip differs", i);
            return 1;
        }
        return 0;
    }
    case 2:
        OK("C_SignInit", f->C_SignInit(s, &m_ecdsa, ST.ec_priv));
        sig_len = sizeof(sig);
        OK("C_Sign", f->C_Sign(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA), sig, &sig_len));
        return 0;
    case 3:
        OK("C_VerifyInit", f->C_VerifyInit(s, &m_ecdsa, ST.ec_pub));
        OK("C_Verify", f->C_Verify(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA), sig, sig_len));
        return 0;
    case 4:
        OK("C_DigestInit", f->C_DigestInit(s, &m_sha));
        OK("C_Digest", f->C_Digest(s, (CK_BYTE *)PLAIN, sizeof(PLAIN), out, &len));
        return 0;
    case 5:
        tn = tmpl_of(T_LABEL, &t);
        OK("C_FindObjectsInit", f->C_FindObjectsInit(s, (CK_ATTRIBUTE *)t, tn));
        OK("C_FindObjects", f->C_FindObjects(s, h, 8, &found));
        OK("C_FindObjectsFinal", f->C_FindObjectsFinal(s));
        return 0;
    case 6:
        tn = tmpl_of(T_DATA, &t);
        OK("C_CreateObject", f->C_CreateObject(s, (CK_ATTRIBUTE *)t, tn, &h[0]));
        OK("C_DestroyObject", f->C_DestroyObject(s, h[0]));
        return 0;
    default: {
        CK_SESSION_HANDLE other;
        OK("C_OpenSession",
           f->C_OpenSession(ST.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &other));
        OK("C_CloseSession", f->C_CloseSession(other));
        return 0;
    }
    }
}

int soak(long n) {
    MUST("C_Initialize", P11->v2.C_Initialize(NULL));
    ensure_state();
    CK_SESSION_HANDLE s = open_rw();
    long warm = n / 10, before = 0;
    double start = now();
    for (long i = 0; i < n; i++) {
        if (i == warm)
            before = rss_kib();
        if (step(i, s) != 0)
            return 1;
    }
    long after = rss_kib();
    double secs = now() - start;
    MUST("C_Finalize", P11->v2.C_Finalize(NULL));
    printf("soak: %ld operations (%lu calls) in %.1f s; RSS %ld KiB after %ld, %ld KiB at the end\n",
           n, CALLS, secs, before, warm, after);
    if (after - before > MAX_GROWTH_KIB) {
        fail("soak", "memory", "RSS grew by %ld KiB, more than %d KiB", after - before,
             MAX_GROWTH_KIB);
        return 1;
    }
    return FAILURES ? 1 : 0;
}
