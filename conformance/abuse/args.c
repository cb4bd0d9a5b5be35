/*
 * The valid call of each function: a fresh session with the operation it needs, a scratch
 * object where it takes one, and every buffer on the heap at the size the call is told.
 */
#include "common.h"

#define OUT_BYTES 4096
#define HANDLES 256

/* A heap block of `n` bytes, freed by call_close; its bytes are undefined until written. */
void *call_undefined(struct call *c, size_t n) {
    if (c->n_blocks == (int)(sizeof(c->blocks) / sizeof(c->blocks[0]))) {
        fail(c->f->name, "set-up", "too many blocks");
        exit(1);
    }
    /* malloc(0) may give NULL; a call told "0 bytes" still gets a pointer it must not use. */
    void *b = malloc(n ? n : 1);
    if (!b) {
        perror("malloc");
        exit(1);
    }
    c->blocks[c->n_blocks++] = b;
    return b;
}

void *call_block(struct call *c, const void *src, size_t n) {
    void *b = call_undefined(c, n);
    if (src)
        memcpy(b, src, n);
    else
        memset(b, 0xA5, n ? n : 1);
    return b;
}

static void data_of(enum data d, const CK_BYTE **p, CK_ULONG *n) {
    switch (d) {
    case D_NONE:
    case D_PLAIN: *p = PLAIN, *n = sizeof(PLAIN); return;
    case D_SIGNED: *p = SIGNED_DATA, *n = sizeof(SIGNED_DATA); return;
    case D_CIPHER: *p = ST.cipher, *n = ST.cipher_len; return;
    case D_SIG: *p = ST.sig, *n = ST.sig_len; return;
    case D_WRAPPED: *p = ST.wrapped, *n = ST.wrapped_len; return;
    case D_SO_PIN: *p = (const CK_BYTE *)SO_PIN, *n = strlen(SO_PIN); return;
    case D_USER_PIN: *p = (const CK_BYTE *)USER_PIN, *n = strlen(USER_PIN); return;
    case D_NAME: *p = (const CK_BYTE *)"PKCS 11", *n = 7; return;
    }
}

static CK_OBJECT_HANDLE handle_of(struct call *c, enum key k) {
    if (!c->live)
        return 1;
    switch (k) {
    case K_NONE: return 0;
    case K_AES: return ST.aes;
    case K_AES2: return ST.aes2;
    case K_EC_PRIV: return ST.ec_priv;
    case K_EC_PUB: return ST.ec_pub;
    case K_SCRATCH: break;
    }
    const CK_ATTRIBUTE *t;
    CK_ULONG n = tmpl_of(T_DATA, &t);
    CK_OBJECT_HANDLE h;
    MUST("C_CreateObject", P11->v2.C_CreateObject(c->work, (CK_ATTRIBUTE *)t, n, &h));
    return h;
}

/* A heap copy of a template, each value in a block of its own. */
static CK_ATTRIBUTE *template_copy(struct call *c, enum tmpl t, CK_ULONG *n) {
    const CK_ATTRIBUTE *src;
    *n = tmpl_of(t, &src);
    CK_ATTRIBUTE *a = call_block(c, src, *n * sizeof(CK_ATTRIBUTE));
    for (CK_ULONG i = 0; i < *n; i++)
        a[i].pValue = call_block(c, src[i].pValue, src[i].ulValueLen);
    return a;
}

static CK_MECHANISM *mechanism_copy(struct call *c, enum mech m) {
    CK_MECHANISM v = mech_of(m);
    CK_MECHANISM *p = call_block(c, &v, sizeof(v));
    if (v.pParameter)
        p->pParameter = call_block(c, v.pParameter, v.ulParameterLen);
    return p;
}

void call_open(struct call *c, const struct fn *f, int live) {
    call_open_in(c, f, live, 0);
}

void call_open_in(struct call *c, const struct fn *f, int live, CK_SESSION_HANDLE session) {
    memset(c, 0, sizeof(*c));
    c->f = f;
    c->live = live;
    if (session) {
        c->work = session;
    } else if (live && strchr(f->shape, 's')) {
        c->work = open_rw();
        c->own_work = 1;
        prepare(c->work, f->prep);
    } else {
        c->work = 1;
    }
    int keys = 0, inputs = 0, templates = 0;
    arg_t *a = c->a;
    for (int p = 0; f->shape[p]; p++) {
        const CK_BYTE *d = NULL;
        CK_ULONG n = 0;
        switch (f->shape[p]) {
        case 's': a[p] = c->work; break;
        case 'l': a[p] = ST.slot; break;
        case 'o':
        case 'k':
        case 'W':
        case 'U': a[p] = handle_of(c, keys++ ? f->key2 : f->key); break;
        case 'm': a[p] = (arg_t)mechanism_copy(c, f->mech); break;
        case 'M': a[p] = mech_of(f->mech).mechanism; break;
        case 'i':
            data_of(inputs++ ? f->in2 : f->in, &d, &n);
            a[p] = (arg_t)call_block(c, d, n);
            a[p + 1] = n;
            break;
        case 'O': a[p] = (arg_t)call_block(c, NULL, OUT_BYTES); break;
        case 'L': {
            CK_ULONG cap = OUT_BYTES / (f->esize ? f->esize : 1);
            a[p] = (arg_t)call_block(c, &cap, sizeof(cap));
            break;
        }
        case 'R':
            a[p] = (arg_t)call_block(c, NULL, 32);
            a[p + 1] = 32;
            break;
        case 'w': a[p] = (arg_t)call_block(c, NULL, f->wsize ? f->wsize : sizeof(CK_ULONG)); break;
        case 't': {
            CK_ULONG cnt;
            a[p] = (arg_t)template_copy(c, templates++ ? f->t2 : f->t1, &cnt);
            a[p + 1] = cnt;
            break;
        }
        case 'H':
            a[p] = (arg_t)call_block(c, NULL, HANDLES * sizeof(CK_OBJECT_HANDLE));
            a[p + 1] = HANDLES;
            break;
        case 'f': a[p] = f->flags; break;
        case 'u': a[p] = CKU_USER; break;
        case 'b': a[p] = CK_TRUE; break;
        case 'r': a[p] = 0; break;
        /* CK_NOTIFY must be a function or NULL; the other ignorable pointers get a cell. */
        case 'p': a[p] = f->id == F_OpenSession ? 0 : (arg_t)call_block(c, NULL, 64); break;
        case 'x': a[p] = (arg_t)call_block(c, "PKCS 11", 8); break;
        case 'V': {
            CK_VERSION v = {3, 0};
            a[p] = (arg_t)call_block(c, &v, sizeof(v));
            break;
        }
        case 'X': a[p] = (arg_t)call_block(c, "abuse                           ", 32); break;
        case 'n':
        case 'c': break; /* set with the pointer before them */
        default:
            fail(f->name, "shape", "unknown letter '%c'", f->shape[p]);
            exit(1);
        }
    }
}

void call_close(struct call *c, CK_RV rv) {
    if (c->live && c->f->id == F_OpenSession && rv == CKR_OK)
        P11->v2.C_CloseSession(*(CK_SESSION_HANDLE *)c->a[4]);
    if (c->own_work)
        P11->v2.C_CloseSession(c->work);
    for (int i = 0; i < c->n_blocks; i++)
        free(c->blocks[i]);
    c->n_blocks = 0;
}
