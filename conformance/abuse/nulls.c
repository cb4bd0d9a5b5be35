/*
 * The sweep: for every function of a list, the valid call, then the same call with one
 * argument made bad at a time (NULL, zero, huge, an invalid handle or mechanism), then the
 * valid call again to see that the library is still sound.
 */
#include "common.h"

#define BAD 0xDEADBEEFUL
#define NO_MECHANISM 0x0FFFFFFFUL /* unassigned by the standard */
static const CK_ULONG HUGE[2] = {ULONG_MAX, 1UL << 40};

enum how {
    E_SKIP,     /* the variant does not apply */
    E_ONE_OF,   /* one of the listed codes */
    E_ANY,      /* any code: the call only has to return, and not fail internally */
    E_NOT_OK,   /* any error but an internal one */
    E_SAME,     /* the valid call's code */
    E_QUERY,    /* the valid call's code and, on success, at least its length */
    E_SHORT,    /* CKR_BUFFER_TOO_SMALL and the needed length, when there is output */
};

struct want {
    enum how how;
    CK_RV rv[3];
    size_t n;
};

static struct want one(CK_RV a) { return (struct want){E_ONE_OF, {a}, 1}; }
static struct want two(CK_RV a, CK_RV b) { return (struct want){E_ONE_OF, {a, b}, 2}; }
static struct want how(enum how h) { return (struct want){h, {0}, 0}; }

/* C_GetInterface finding nothing: the standard lists no code of its own for it. */
static struct want not_found(void) { return two(CKR_ARGUMENTS_BAD, CKR_FUNCTION_FAILED); }

static int variants(char letter) {
    switch (letter) {
    case 's': return 3;
    case 'm': return 7;
    case 'i': return 5;
    case 't': return 7;
    case 'L': case 'R': case 'H': return 4;
    case 'l': case 'o': case 'k': case 'W': case 'U': case 'f': case 'b': case 'x': case 'V':
        return 2;
    case 'M': case 'O': case 'w': case 'u': case 'r': case 'X': return 1;
    default: return 0;
    }
}

static CK_RV handle_error(char letter) {
    switch (letter) {
    case 'o': return CKR_OBJECT_HANDLE_INVALID;
    case 'W': return CKR_WRAPPING_KEY_HANDLE_INVALID;
    case 'U': return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    default: return CKR_KEY_HANDLE_INVALID;
    }
}

static struct want bad_mechanism(struct call *c, int p, int v, char *label, size_t cap) {
    CK_MECHANISM *m = (CK_MECHANISM *)c->a[p];
    struct want param = two(CKR_MECHANISM_PARAM_INVALID, CKR_ARGUMENTS_BAD);
    switch (v) {
    case 0: c->a[p] = 0, snprintf(label, cap, "NULL"); return one(CKR_ARGUMENTS_BAD);
    case 1:
        m->mechanism = NO_MECHANISM, snprintf(label, cap, "type 0x%lx", NO_MECHANISM);
        return one(CKR_MECHANISM_INVALID);
    case 2:
        m->pParameter = NULL, m->ulParameterLen = HUGE[1];
        snprintf(label, cap, "NULL parameter of 2^40 bytes");
        return param;
    case 3:
        if (!m->pParameter)
            m->pParameter = call_block(c, NULL, 16);
        m->ulParameterLen = HUGE[0], snprintf(label, cap, "parameter of ULONG_MAX bytes");
        return param;
    case 4:
        if (!m->pParameter)
            return how(E_SKIP);
        m->ulParameterLen = 3, snprintf(label, cap, "parameter of 3 bytes");
        return param;
    }
    if (m->mechanism != CKM_ECDH1_DERIVE)
        return how(E_SKIP);
    CK_ECDH1_DERIVE_PARAMS *d = m->pParameter;
    if (v == 5)
        d->pPublicData = NULL, snprintf(label, cap, "ECDH public data NULL");
    else
        d->ulPublicDataLen = HUGE[0], snprintf(label, cap, "ECDH public data of ULONG_MAX bytes");
    return param;
}

/* Makes argument `p` bad in the way `v` says; returns what the standard wants then. */
static struct want apply(struct call *c, int p, int v, char *label, size_t cap) {
    arg_t *a = c->a;
    const struct fn *f = c->f;
    char letter = f->shape[p];
    switch (letter) {
    case 's':
        if (v < 2) {
            a[p] = v ? BAD : 0, snprintf(label, cap, "session 0x%lx", (unsigned long)a[p]);
            return one(CKR_SESSION_HANDLE_INVALID);
        }
        snprintf(label, cap, "closed session");
        if (c->live) {
            CK_SESSION_HANDLE h = open_rw();
            MUST("C_CloseSession", P11->v2.C_CloseSession(h));
            a[p] = h;
        }
        return two(CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED);
    case 'l':
        a[p] = v ? ULONG_MAX : BAD, snprintf(label, cap, "slot 0x%lx", (unsigned long)a[p]);
        return one(CKR_SLOT_ID_INVALID);
    case 'o': case 'k': case 'W': case 'U':
        a[p] = v ? BAD : 0, snprintf(label, cap, "handle 0x%lx", (unsigned long)a[p]);
        return one(handle_error(letter));
    case 'm': return bad_mechanism(c, p, v, label, cap);
    case 'M':
        a[p] = NO_MECHANISM, snprintf(label, cap, "type 0x%lx", NO_MECHANISM);
        return one(CKR_MECHANISM_INVALID);
    case 'i':
        switch (v) {
        case 0: a[p] = 0, snprintf(label, cap, "NULL, length kept"); return one(CKR_ARGUMENTS_BAD);
        case 1: a[p] = 0, a[p + 1] = 0, snprintf(label, cap, "NULL, length 0"); return how(E_ANY);
        case 2: a[p + 1] = 0, snprintf(label, cap, "length 0"); return how(E_ANY);
        case 3: case 4:
            a[p + 1] = HUGE[v - 3], snprintf(label, cap, "length 0x%lx", HUGE[v - 3]);
            return how(E_NOT_OK);
        }
        return how(E_SKIP);
    case 'O':
        /* A size query must not read the length it is about to set. */
        a[p] = 0, a[p + 1] = (arg_t)call_undefined(c, sizeof(CK_ULONG));
        snprintf(label, cap, "NULL (size query, *length undefined)");
        return how(E_QUERY);
    case 'L':
        if (v == 0) {
            a[p] = 0, snprintf(label, cap, "NULL");
            return one(CKR_ARGUMENTS_BAD);
        }
        if (v == 1) {
            *(CK_ULONG *)a[p] = 0, snprintf(label, cap, "*length 0");
            return how(E_SHORT);
        }
        *(CK_ULONG *)a[p] = HUGE[v - 2], snprintf(label, cap, "*length 0x%lx", HUGE[v - 2]);
        return how(E_SAME);
    case 'R':
        if (v == 0) {
            a[p] = 0, snprintf(label, cap, "NULL, length kept");
            return one(CKR_ARGUMENTS_BAD);
        }
        a[p + 1] = v == 1 ? 0 : HUGE[v - 2], snprintf(label, cap, "length 0x%lx", (unsigned long)a[p + 1]);
        return v == 1 ? how(E_ANY) : how(E_NOT_OK);
    case 'w': a[p] = 0, snprintf(label, cap, "NULL"); return one(CKR_ARGUMENTS_BAD);
    case 't': {
        CK_ATTRIBUTE *t = (CK_ATTRIBUTE *)a[p];
        int out = f->t1 == T_GET; /* values are written, not read */
        switch (v) {
        case 0: a[p] = 0, snprintf(label, cap, "NULL, count kept"); return one(CKR_ARGUMENTS_BAD);
        case 1: a[p + 1] = 0, snprintf(label, cap, "count 0"); return how(E_ANY);
        case 2: case 3:
            a[p + 1] = HUGE[v - 2], snprintf(label, cap, "count 0x%lx", HUGE[v - 2]);
            return how(E_NOT_OK);
        case 4:
            t[0].pValue = NULL, snprintf(label, cap, "first value NULL");
            return out ? how(E_SAME) : two(CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_VALUE_INVALID);
        default:
            t[0].ulValueLen = HUGE[v - 5];
            snprintf(label, cap, "first value of 0x%lx bytes", HUGE[v - 5]);
            return out ? how(E_SAME) : how(E_NOT_OK);
        }
    }
    case 'H':
        if (v == 0) {
            a[p] = 0, snprintf(label, cap, "NULL, count kept");
            return one(CKR_ARGUMENTS_BAD);
        }
        a[p + 1] = v == 1 ? 0 : HUGE[v - 2], snprintf(label, cap, "count 0x%lx", (unsigned long)a[p + 1]);
        return how(E_SAME);
    case 'f':
        a[p] = v ? ULONG_MAX : 0, snprintf(label, cap, "flags 0x%lx", (unsigned long)a[p]);
        if (f->id == F_OpenSession && v == 0)
            return one(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        if (f->id == F_GetInterface)
            return v ? not_found() : how(E_SAME);
        return how(E_ANY);
    case 'u': a[p] = BAD, snprintf(label, cap, "user type 0x%lx", BAD); return one(CKR_USER_TYPE_INVALID);
    case 'b': a[p] = v ? 2 : CK_FALSE, snprintf(label, cap, "%d", v ? 2 : 0); return how(E_ANY);
    case 'r': a[p] = (arg_t)call_block(c, NULL, 8), snprintf(label, cap, "non-NULL"); return one(CKR_ARGUMENTS_BAD);
    case 'x':
        if (v == 0) {
            a[p] = 0, snprintf(label, cap, "NULL");
            return how(E_SAME);
        }
        a[p] = (arg_t)call_block(c, "no such interface", 18), snprintf(label, cap, "unknown name");
        return not_found();
    case 'V':
        if (v == 0) {
            a[p] = 0, snprintf(label, cap, "NULL");
            return how(E_SAME);
        }
        ((CK_VERSION *)a[p])->major = 9, snprintf(label, cap, "version 9.0");
        return not_found();
    case 'X': a[p] = 0, snprintf(label, cap, "NULL"); return one(CKR_ARGUMENTS_BAD);
    }
    return how(E_SKIP);
}

static int allowed_uninitialized(const struct fn *f) {
    return f->id == F_GetFunctionList || f->id == F_GetInterfaceList || f->id == F_GetInterface ||
           f->id == F_KMS_GetLastError;
}

static CK_RV class_rv(const struct fn *f) {
    switch (f->cls) {
    case C_UNSUPPORTED: return CKR_FUNCTION_NOT_SUPPORTED;
    case C_NOT_PARALLEL: return CKR_FUNCTION_NOT_PARALLEL;
    case C_NO_SEED: return CKR_RANDOM_SEED_NOT_SUPPORTED;
    default: return f->base;
    }
}

static void check(const struct call *c, const char *what, CK_RV rv, struct want w, CK_RV base,
                  CK_ULONG base_len, int lpos) {
    const char *name = c->f->name;
    const CK_ULONG *len = lpos >= 0 ? (const CK_ULONG *)c->a[lpos] : NULL;
    switch (w.how) {
    case E_SKIP: return;
    case E_ONE_OF: expect_any(name, what, rv, w.rv, w.n); return;
    case E_ANY:
        if (rv == CKR_GENERAL_ERROR)
            fail(name, what, "got %s want any other code", rv_name(rv));
        return;
    case E_NOT_OK:
        if (rv == CKR_OK || rv == CKR_GENERAL_ERROR)
            fail(name, what, "got %s want an error other than CKR_GENERAL_ERROR", rv_name(rv));
        return;
    case E_SAME: expect(name, what, rv, base); return;
    case E_QUERY:
        expect(name, what, rv, base);
        if (rv == CKR_OK && len && *len < base_len)
            fail(name, what, "length %lu, but the output takes %lu", *len, base_len);
        return;
    case E_SHORT:
        if (base != CKR_OK || base_len == 0) {
            expect(name, what, rv, base);
            return;
        }
        expect(name, what, rv, CKR_BUFFER_TOO_SMALL);
        if (rv == CKR_BUFFER_TOO_SMALL && len && *len < base_len)
            fail(name, what, "needed length %lu, but the output takes %lu", *len, base_len);
        return;
    }
}

/* The valid call; returns its code and, through `len`, its output length. */
static CK_RV valid_call(const struct under_test *ut, const struct fn *f, int live, int lpos,
                        CK_ULONG *len) {
    struct call c;
    if (live)
        ensure_state();
    call_open(&c, f, live);
    CK_RV rv = dispatch(ut, f, c.a);
    *len = lpos >= 0 && rv == CKR_OK ? *(CK_ULONG *)c.a[lpos] : 0;
    call_close(&c, rv);
    return rv;
}

void sweep(const struct under_test *ut, int live) {
    int verbose = getenv("ABUSE_VERBOSE") != NULL;
    for (size_t i = 0; i < N_FUNCTIONS; i++) {
        const struct fn *f = &FUNCTIONS[i];
        if (!list_has(ut, f) || f->skip == 2)
            continue;
        int gated = !live && !allowed_uninitialized(f);
        const char *l = strchr(f->shape, 'L');
        int lpos = l ? (int)(l - f->shape) : -1;
        CK_RV base = gated ? CKR_CRYPTOKI_NOT_INITIALIZED : live ? class_rv(f) : CKR_OK;
        CK_ULONG base_len = 0;
        char what[128];
        snprintf(what, sizeof(what), "[%s] valid call", ut->label);
        if (!(live && f->skip == 1)) {
            CK_RV rv = valid_call(ut, f, live, lpos, &base_len);
            if (verbose)
                printf("%s %s: %s\n", f->name, what, rv_name(rv));
            expect(f->name, what, rv, base);
            base = rv;
        }
        for (int p = 0; f->shape[p]; p++) {
            char letter = f->shape[p];
            for (int v = 0; v < variants(letter); v++) {
                struct call c;
                char label[96];
                if (live)
                    ensure_state();
                call_open(&c, f, live);
                struct want w = apply(&c, p, v, label, sizeof(label));
                if (w.how == E_SKIP) {
                    call_close(&c, CKR_GENERAL_ERROR);
                    continue;
                }
                if (gated)
                    w = letter == 'r' ? two(CKR_CRYPTOKI_NOT_INITIALIZED, CKR_ARGUMENTS_BAD)
                                      : one(CKR_CRYPTOKI_NOT_INITIALIZED);
                else if (live && f->cls != C_NORMAL && letter != 's')
                    w = one(class_rv(f));
                snprintf(what, sizeof(what), "[%s] arg %d (%c) %s", ut->label, p + 1, letter, label);
                /* What the call leaves in its own, valid session is checked after it. */
                int follow = c.own_work && letter != 's' && f->cls == C_NORMAL;
                CK_ULONG objects = follow && makes_objects(f) ? count_objects(c.work) : 0;
                CK_RV rv = dispatch(ut, f, c.a);
                if (verbose)
                    printf("%s %s: %s\n", f->name, what, rv_name(rv));
                check(&c, what, rv, w, base, base_len, lpos);
                if (follow)
                    after_bad_call(ut, &c, what, rv, w.how == E_QUERY, base, objects);
                call_close(&c, rv);
            }
        }
        if (!(live && f->skip == 1)) {
            CK_ULONG len;
            CK_RV rv = valid_call(ut, f, live, lpos, &len);
            snprintf(what, sizeof(what), "[%s] valid call after the bad ones", ut->label);
            expect(f->name, what, rv, base);
        }
    }
}
