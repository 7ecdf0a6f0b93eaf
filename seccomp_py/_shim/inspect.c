/* Reading the seccomp filters of a live process (inspect.py).
 *
 * One call does the whole ptrace session, so that the target is always
 * detached before control returns to Python (a KeyboardInterrupt is only
 * delivered between Python bytecodes, after this function returned):
 *
 *   PTRACE_SEIZE (no options: no event stops, nothing killed when we exit),
 *   PTRACE_INTERRUPT, wait for the stop (waitid, peeking first with WNOWAIT
 *   so that the exit of a target that is our own child is left for its
 *   parent code to reap), PTRACE_SECCOMP_GET_FILTER for index 0, 1, ... (0 is
 *   the OLDEST filter: get_nth_filter() walks back count - index filters from
 *   the most recent one, although ptrace(2) says the opposite) until ENOENT, PTRACE_SECCOMP_GET_METADATA for
 *   each, PTRACE_DETACH passing on the signal when the stop we got was a
 *   signal-delivery stop (the target must not lose a signal because we
 *   looked at it).
 *
 * The ptrace(2) constants carry an SPY_ prefix and ptrace is called through
 * syscall(2), so this file needs neither <sys/ptrace.h> nor <linux/ptrace.h>
 * (whose definitions clash with each other in one translation unit). */
#include "shim.h"
#include <signal.h>
#include <sys/wait.h>
#include <linux/filter.h>

#define SPY_INSPECT_STEP_NONE 0
#define SPY_INSPECT_STEP_SEIZE 1
#define SPY_INSPECT_STEP_INTERRUPT 2
#define SPY_INSPECT_STEP_WAIT 3
#define SPY_INSPECT_STEP_GET_FILTER 4
#define SPY_INSPECT_STEP_SPACE 5
#define SPY_INSPECT_STEP_DETACH 6
#define SPY_INSPECT_STEP_EXITED 7

struct spy_seccomp_metadata {
    uint64_t filter_off;
    uint64_t flags;
};

struct spy_inspect_req {
    int pid;
    int own_child;
    void *buf;  /* struct sock_filter[buf_cap] */
    unsigned int buf_cap;
    unsigned int *lens;
    uint64_t *flags;
    int *meta_err;
    unsigned int max_filters;
    unsigned int count;
    unsigned int used;
    int err_step;
    int err;
    int filter_index;
    int stop_status;
    int passed_signal;
    int detach_err;
};

static long spy_ptrace(long req, int pid, unsigned long addr, void *data)
{
    return syscall(SYS_ptrace, req, (long)pid, addr, data);
}

static int spy_inspect_fail(struct spy_inspect_req *req, int step, int err)
{
    if (req->err_step == SPY_INSPECT_STEP_NONE) {
        req->err_step = step;
        req->err = err;
    }
    return -err;
}

/* Wait for the ptrace stop that PTRACE_INTERRUPT (or a signal, or a group
 * stop) caused.  Returns 0 with req->stop_status set, or -errno. */
static int spy_inspect_wait(struct spy_inspect_req *req)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)req->pid, &si, WEXITED | WSTOPPED | __WALL | WNOWAIT) != 0) {
            if (errno == EINTR)
                continue;
            return spy_inspect_fail(req, SPY_INSPECT_STEP_WAIT, errno);
        }
        if (si.si_pid == 0)
            continue;
        if (si.si_code == CLD_TRAPPED || si.si_code == CLD_STOPPED) {
            memset(&si, 0, sizeof si);
            while (waitid(P_PID, (id_t)req->pid, &si, WSTOPPED | __WALL) != 0) {
                if (errno != EINTR)
                    return spy_inspect_fail(req, SPY_INSPECT_STEP_WAIT, errno);
            }
            req->stop_status = si.si_status;
            return 0;
        }
        /* The target exited (or was killed) before it stopped.  Our own
         * child's status belongs to its parent code: leave it waitable.
         * Anybody else's exit report is ours as its tracer; take it so that
         * the real parent gets it. */
        if (!req->own_child) {
            memset(&si, 0, sizeof si);
            while (waitid(P_PID, (id_t)req->pid, &si, WEXITED | __WALL) != 0 && errno == EINTR)
                ;
        }
        return spy_inspect_fail(req, SPY_INSPECT_STEP_EXITED, ESRCH);
    }
}

static void spy_inspect_filters(struct spy_inspect_req *req)
{
    unsigned int i;
    for (i = 0;; i++) {
        long n, m;
        struct spy_seccomp_metadata md;
        req->filter_index = (int)i;
        n = spy_ptrace(SPY_PTRACE_SECCOMP_GET_FILTER, req->pid, i, NULL);
        if (n < 0) {
            if (errno == ENOENT && i > 0)
                break;
            spy_inspect_fail(req, SPY_INSPECT_STEP_GET_FILTER, errno);
            return;
        }
        if (i >= req->max_filters || n == 0 || (unsigned long)n > req->buf_cap - req->used) {
            spy_inspect_fail(req, SPY_INSPECT_STEP_SPACE, ENOSPC);
            return;
        }
        m = spy_ptrace(SPY_PTRACE_SECCOMP_GET_FILTER, req->pid, i, (struct sock_filter *)req->buf + req->used);
        if (m < 0) {
            spy_inspect_fail(req, SPY_INSPECT_STEP_GET_FILTER, errno);
            return;
        }
        if (m != n) {
            spy_inspect_fail(req, SPY_INSPECT_STEP_GET_FILTER, EIO);
            return;
        }
        req->lens[i] = (unsigned int)n;
        req->used += (unsigned int)n;
        memset(&md, 0, sizeof md);
        md.filter_off = i;
        if (spy_ptrace(SPY_PTRACE_SECCOMP_GET_METADATA, req->pid, sizeof md, &md) < 0) {
            req->meta_err[i] = errno;
            req->flags[i] = 0;
        } else {
            req->meta_err[i] = 0;
            req->flags[i] = md.flags;
        }
        req->count = i + 1;
    }
    req->filter_index = -1;
}

/* Attach, read every filter, detach.  Returns 0 or -errno (req->err_step
 * says which step failed; the target is detached in every case it was
 * attached). */
int spy_inspect_read(struct spy_inspect_req *req)
{
    int sig = 0;
    req->count = 0;
    req->used = 0;
    req->err_step = SPY_INSPECT_STEP_NONE;
    req->err = 0;
    req->filter_index = -1;
    req->stop_status = 0;
    req->passed_signal = 0;
    req->detach_err = 0;
    if (req->pid <= 0)
        return spy_inspect_fail(req, SPY_INSPECT_STEP_SEIZE, ESRCH);
    if (spy_ptrace(SPY_PTRACE_SEIZE, req->pid, 0, NULL) != 0)
        return spy_inspect_fail(req, SPY_INSPECT_STEP_SEIZE, errno);
    if (spy_ptrace(SPY_PTRACE_INTERRUPT, req->pid, 0, NULL) != 0) {
        int err = errno;
        /* Not stopped: PTRACE_DETACH would fail with ESRCH; the target
         * is gone or dying (the only reasons INTERRUPT fails on a tracee). */
        spy_inspect_fail(req, SPY_INSPECT_STEP_INTERRUPT, err);
        if (spy_inspect_wait(req) != 0)
            return -req->err;
    } else if (spy_inspect_wait(req) != 0) {
        return -req->err;
    }
    /* si_status of a ptrace stop: the signal, and for PTRACE_EVENT_STOP
     * (group stop or our interrupt) the event in bits 8..15.  Only a
     * signal-delivery stop (no event) holds a signal to pass on. */
    if (((req->stop_status >> 8) & 0xff) == 0)
        sig = req->stop_status & 0x7f;
    req->passed_signal = sig;
    if (req->err_step == SPY_INSPECT_STEP_NONE)
        spy_inspect_filters(req);
    if (spy_ptrace(SPY_PTRACE_DETACH, req->pid, 0, (void *)(long)sig) != 0) {
        req->detach_err = errno;
        if (errno != ESRCH)
            return spy_inspect_fail(req, SPY_INSPECT_STEP_DETACH, errno);
    }
    return req->err_step == SPY_INSPECT_STEP_NONE ? 0 : -req->err;
}
