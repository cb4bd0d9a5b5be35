/*
 * A fork with the library initialized and sessions open: the child finds the library not
 * initialized (the parent's sessions and login are not its own), initializes it anew, works,
 * and finalizes; the parent's sessions go on working meanwhile and after.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static int child(CK_SESSION_HANDLE inherited) {
    const CK_FUNCTION_LIST *f = &P11->v2;
    CK_SESSION_INFO info;
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    CHECK("C_GetSessionInfo", "child, inherited session", f->C_GetSessionInfo(inherited, &info),
          CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK("C_Finalize", "child, before C_Initialize", f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK("C_Initialize", "child", f->C_Initialize(NULL), CKR_OK);
    CHECK("C_GetSessionInfo", "child, inherited session after C_Initialize",
          f->C_GetSessionInfo(inherited, &info), CKR_SESSION_HANDLE_INVALID);
    CHECK("C_GetSlotList", "child", f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    forget_state();
    ensure_state();
    CK_SESSION_HANDLE s = open_rw();
    prepare(s, P_SIGN);
    CK_BYTE sig[80];
    CK_ULONG len = sizeof(sig);
    CHECK("C_Sign", "child", f->C_Sign(s, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA), sig, &len), CKR_OK);
    CHECK("C_Finalize", "child", f->C_Finalize(NULL), CKR_OK);
    return FAILURES ? 1 : 0;
}

void fork_child(void) {
    ensure_state();
    CK_SESSION_HANDLE anchor = ST.anchor;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        int rc = child(anchor);
        fflush(stdout);
        _exit(rc);
    }
    CK_SESSION_INFO info;
    CHECK("C_GetSessionInfo", "parent, while the child runs", P11->v2.C_GetSessionInfo(anchor, &info), CKR_OK);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("fork", "child", "ended with status 0x%x", status);
    CHECK("C_GetSessionInfo", "parent, after the child", P11->v2.C_GetSessionInfo(anchor, &info), CKR_OK);
    prepare(anchor, P_SIGN);
    CK_BYTE sig[80];
    CK_ULONG len = sizeof(sig);
    CHECK("C_Sign", "parent, after the child",
          P11->v2.C_Sign(anchor, (CK_BYTE *)SIGNED_DATA, sizeof(SIGNED_DATA), sig, &len), CKR_OK);
}
