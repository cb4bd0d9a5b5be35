/*
 * abuse: calls every entry point of every function list of a PKCS#11 module (2.40, 3.0, 3.2
 * and the vendor's) with bad arguments and in wrong orders, before and after C_Initialize and
 * C_Finalize, and in a correct flow; then every mechanism with every key, odd data and bad
 * parameters, templates of every attribute type, key management with odd inputs, overlapping
 * buffers, a fork and racing threads. Each result is checked where the standard is clear and,
 * everywhere, the call must return, without an internal error (CKR_GENERAL_ERROR).
 *
 *   abuse <module.so>              the abuse run (meant for valgrind)
 *   abuse <module.so> --soak N     N mixed operations; fails if the RSS grows by > 8 MiB
 *
 * The module reads its configuration from the environment (KMS_PKCS11_CONFIG,
 * KMS_PKCS11_HOME); the token's PINs are those of conformance/lib.sh.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>

#include "common.h"

unsigned long CALLS;
unsigned long FAILURES;
const struct list *P11;
const CK_KMS_FUNCTION_LIST *KMS;

/* Stops printing after this many failures; the count still grows. */
#define MAX_PRINTED 200

static const struct {
    CK_RV rv;
    const char *name;
} NAMES[] = {
#define N(x) {x, #x}
    N(CKR_OK), N(CKR_HOST_MEMORY), N(CKR_SLOT_ID_INVALID), N(CKR_GENERAL_ERROR),
    N(CKR_FUNCTION_FAILED), N(CKR_ARGUMENTS_BAD), N(CKR_NO_EVENT), N(CKR_CANT_LOCK),
    N(CKR_ATTRIBUTE_READ_ONLY), N(CKR_ATTRIBUTE_SENSITIVE), N(CKR_ATTRIBUTE_TYPE_INVALID),
    N(CKR_ATTRIBUTE_VALUE_INVALID), N(CKR_ACTION_PROHIBITED), N(CKR_DATA_INVALID),
    N(CKR_DATA_LEN_RANGE), N(CKR_DEVICE_ERROR), N(CKR_DEVICE_MEMORY),
    N(CKR_ENCRYPTED_DATA_INVALID), N(CKR_ENCRYPTED_DATA_LEN_RANGE),
    N(CKR_FUNCTION_NOT_PARALLEL), N(CKR_FUNCTION_NOT_SUPPORTED), N(CKR_KEY_HANDLE_INVALID),
    N(CKR_KEY_SIZE_RANGE), N(CKR_KEY_TYPE_INCONSISTENT), N(CKR_KEY_INDIGESTIBLE),
    N(CKR_KEY_FUNCTION_NOT_PERMITTED), N(CKR_KEY_NOT_WRAPPABLE), N(CKR_KEY_UNEXTRACTABLE),
    N(CKR_MECHANISM_INVALID), N(CKR_MECHANISM_PARAM_INVALID), N(CKR_OBJECT_HANDLE_INVALID),
    N(CKR_OPERATION_ACTIVE), N(CKR_OPERATION_NOT_INITIALIZED), N(CKR_PIN_INCORRECT),
    N(CKR_PIN_INVALID), N(CKR_PIN_LEN_RANGE), N(CKR_PIN_LOCKED), N(CKR_SESSION_CLOSED),
    N(CKR_SESSION_EXISTS), N(CKR_SESSION_HANDLE_INVALID),
    N(CKR_SESSION_PARALLEL_NOT_SUPPORTED), N(CKR_SESSION_READ_ONLY),
    N(CKR_SESSION_READ_ONLY_EXISTS), N(CKR_SESSION_READ_WRITE_SO_EXISTS),
    N(CKR_SIGNATURE_INVALID), N(CKR_SIGNATURE_LEN_RANGE), N(CKR_TEMPLATE_INCOMPLETE),
    N(CKR_TEMPLATE_INCONSISTENT), N(CKR_TOKEN_NOT_PRESENT), N(CKR_TOKEN_NOT_RECOGNIZED),
    N(CKR_UNWRAPPING_KEY_HANDLE_INVALID), N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_USER_ALREADY_LOGGED_IN), N(CKR_USER_NOT_LOGGED_IN), N(CKR_USER_PIN_NOT_INITIALIZED),
    N(CKR_USER_TYPE_INVALID), N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    N(CKR_WRAPPED_KEY_INVALID), N(CKR_WRAPPED_KEY_LEN_RANGE),
    N(CKR_WRAPPING_KEY_HANDLE_INVALID), N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_RANDOM_SEED_NOT_SUPPORTED), N(CKR_DOMAIN_PARAMS_INVALID), N(CKR_CURVE_NOT_SUPPORTED),
    N(CKR_BUFFER_TOO_SMALL), N(CKR_CRYPTOKI_NOT_INITIALIZED),
    N(CKR_CRYPTOKI_ALREADY_INITIALIZED), N(CKR_TOKEN_RESOURCE_EXCEEDED),
#undef N
};

const char *rv_name(CK_RV rv) {
    static char buf[4][32];
    static int next;
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++)
        if (NAMES[i].rv == rv)
            return NAMES[i].name;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof(buf[0]), "0x%lx", (unsigned long)rv);
    return b;
}

/* Failures may come from several threads at once (threads.c). */
static pthread_mutex_t FAIL_LOCK = PTHREAD_MUTEX_INITIALIZER;

void fail(const char *fn, const char *what, const char *fmt, ...) {
    pthread_mutex_lock(&FAIL_LOCK);
    if (++FAILURES <= MAX_PRINTED) {
        va_list ap;
        va_start(ap, fmt);
        printf("FAIL: %s %s: ", fn, what);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        fflush(stdout);
    }
    pthread_mutex_unlock(&FAIL_LOCK);
}

void expect(const char *fn, const char *what, CK_RV got, CK_RV want) {
    if (got != want)
        fail(fn, what, "got %s want %s", rv_name(got), rv_name(want));
}

void expect_any(const char *fn, const char *what, CK_RV got, const CK_RV *want, size_t n) {
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (got == want[i])
            return;
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? " or " : "", rv_name(want[i]));
    }
    fail(fn, what, "got %s want %s", rv_name(got), list);
}

void fatal(const char *fn, const char *what, CK_RV rv) {
    fail(fn, what, "got %s want CKR_OK (cannot go on)", rv_name(rv));
    printf("%lu calls, %lu failures\n", CALLS, FAILURES);
    exit(1);
}

static void *symbol(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        printf("FAIL: %s: not exported\n", name);
        exit(1);
    }
    return p;
}

/* The list of `name` at `major.minor` through C_GetInterface, checked to report that version. */
static void *interface(fn_get_interface get, const char *name, CK_BYTE major, CK_BYTE minor) {
    CK_VERSION v = {major, minor};
    struct iface *i = NULL;
    MUST("C_GetInterface", get((CK_UTF8CHAR *)name, &v, &i, 0));
    if (!i || !i->list || strcmp((const char *)i->name, name) != 0) {
        fail("C_GetInterface", name, "no list, or a list of another name");
        exit(1);
    }
    const CK_VERSION *got = i->list;
    if (got->major != major || got->minor != minor)
        fail("C_GetInterface", name, "list reports %d.%d, asked %d.%d", got->major, got->minor,
             major, minor);
    return i->list;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long soak_n = -1;
    if (argc == 4 && strcmp(argv[2], "--soak") == 0)
        soak_n = atol(argv[3]);
    else if (argc != 2) {
        fprintf(stderr, "usage: %s <module.so> [--soak N]\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("FAIL: dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)symbol(lib, "C_GetFunctionList");
    fn_get_interface get_iface = (fn_get_interface)symbol(lib, "C_GetInterface");
    symbol(lib, "C_GetInterfaceList");

    CK_FUNCTION_LIST *v2 = NULL;
    MUST("C_GetFunctionList", get_list(&v2));
    if (v2->version.major != 2 || v2->version.minor != 40)
        fail("C_GetFunctionList", "version", "%d.%d, want 2.40", v2->version.major,
             v2->version.minor);
    struct under_test lists[] = {
        {"2.40", (const struct list *)v2, NULL, V240},
        {"3.0", interface(get_iface, "PKCS 11", 3, 0), NULL, V300},
        {"3.2", interface(get_iface, "PKCS 11", 3, 2), NULL, V320},
        {"KMS", NULL, interface(get_iface, KMS_INTERFACE_NAME, 1, 0), VKMS},
    };
    size_t n_lists = sizeof(lists) / sizeof(lists[0]);
    P11 = lists[2].fl;
    KMS = lists[3].kms;

    if (soak_n >= 0) {
        int rc = soak(soak_n);
        dlclose(lib);
        return rc;
    }

    order_before_init();
    for (size_t i = 0; i < n_lists; i++)
        sweep(&lists[i], 0);
    order_initialize();
    flow();
    order_operations();
    refusals();
    mechanisms();
    templates();
    key_management();
    threads();
    for (size_t i = 0; i < n_lists; i++)
        sweep(&lists[i], 1);
    order_finalize();
    for (size_t i = 0; i < n_lists; i++)
        sweep(&lists[i], 0);
    order_reinitialize();

    if (dlclose(lib) != 0)
        fail("dlclose", argv[1], "%s", dlerror());
    printf("%lu calls, %lu failures\n", CALLS, FAILURES);
    return FAILURES ? 1 : 0;
}
