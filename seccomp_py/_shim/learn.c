/* Learn-mode shim (learn.c): start a command with every syscall sent to a
 * seccomp_unotify(2) listener, and a recording loop that answers each one
 * with CONTINUE after counting it.
 *
 * Starting the child (spy_learn_start): the filter notifies *every* syscall,
 * so the child cannot hand its listener over with sendmsg() (that call would
 * wait for a supervisor that does not exist yet).  Instead the parent takes
 * the listener out of the child with pidfd_getfd(2):
 *
 *   parent                              child (fork(), raw syscalls only)
 *   mmap(MAP_SHARED) a status word
 *   fork() ---------------------------> signal handlers to SIG_DFL, old mask
 *                                       prctl(PR_SET_NO_NEW_PRIVS)
 *                                       L = seccomp(SET_MODE_FILTER,
 *                                                   NEW_LISTENER, prog)
 *                                       status = READY, listener = L (a store
 *                                       to shared memory: no syscall)
 *   pidfd_open(child)                   execve(path)  -> notified: blocks
 *   wait for READY (short sleeps)
 *   pidfd_getfd(pidfd, L) = listener
 *   spy_learn_loop() answers execve ...
 *
 * So the child makes no syscall of its own between loading the filter and
 * execve(), and execve() itself is recorded like any other call.
 *
 * The loop (spy_learn_loop) polls the listener and the child's pidfd,
 * receives a notification (buffer zeroed, sizes from the kernel), counts
 * (arch, nr) in a table the caller owns, and answers CONTINUE.  It returns
 * after `timeout_ms` (so the caller can print progress and handle signals),
 * when the child exits (pidfd readable: the caller reaps it, and the filter
 * is released once every process using it is reaped) or when the listener
 * hangs up (no process uses the filter any more). */
#include "shim.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/filter.h>

#define SPY_LEARN_ARCHES_N 4
#define SPY_LEARN_ARCHES SPY_LEARN_ARCHES_N
#define SPY_LEARN_NR SPY_LEARN_NR_N
#define SPY_LEARN_NR_N 2048          /* 0..1023, then 1024 + (x32 nr - __X32_SYSCALL_BIT) */


#define SPY_LEARN_STEP_NONE 0
#define SPY_LEARN_STEP_SIGNALS 1
#define SPY_LEARN_STEP_NO_NEW_PRIVS 2
#define SPY_LEARN_STEP_SECCOMP 3
#define SPY_LEARN_STEP_EXEC 4
#define SPY_LEARN_STEP_PIDFD 5
#define SPY_LEARN_STEP_GETFD 6
#define SPY_LEARN_STEP_LOST 7       /* the child never got ready */
#define SPY_LEARN_STEP_STDIO 8

struct spy_learn_req {
    const char *path;           /* the program (already resolved) */
    char *const *argv;          /* NULL-terminated */
    char *const *envp;          /* NULL-terminated, or NULL: inherit environ */
    int stdio[3];               /* -1: inherit; else dup2() onto 0, 1, 2 (all >= 3) */
    int no_new_privs;
    unsigned int seccomp_flags; /* must include NEW_LISTENER */
    const void *bpf;
    unsigned int bpf_len;
    /* out */
    int pid;
    int pidfd;
    int listener;
    int err_step;
    int err_errno;
    int status;                 /* wait status of a child that failed */
    void *shared;               /* the status page, until spy_learn_done() */
};

struct spy_learn_table {
    uint64_t total;             /* notifications answered (or gone) */
    uint64_t gone;              /* targets that vanished before the answer */
    uint64_t other;             /* numbers outside the table / arches beyond the slots */
    uint32_t arches[SPY_LEARN_ARCHES_N];   /* AUDIT_ARCH of each slot, 0: free */
    uint64_t counts[SPY_LEARN_ARCHES_N][SPY_LEARN_NR_N];
};

struct spy_learn_shared {
    int state;                  /* 0 starting, 1 ready, 2 failed */
    int listener;
    int step;
    int err;
};

extern char **environ;

static void __attribute__((noreturn))
spy_learn_child(struct spy_learn_req *req, volatile struct spy_learn_shared *sh,
                const sigset_t *oldmask)
{
    struct sock_fprog prog;
    char *const *envp = req->envp != NULL ? req->envp : environ;
    int sig, listener, step = SPY_LEARN_STEP_SIGNALS;

    for (sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) != 0 || sa.sa_handler == SIG_IGN
            || sa.sa_handler == SIG_DFL)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        if (sigaction(sig, &sa, NULL) != 0)
            goto fail;
    }
    if (sigprocmask(SIG_SETMASK, oldmask, NULL) != 0)
        goto fail;
    step = SPY_LEARN_STEP_STDIO;
    for (sig = 0; sig < 3; sig++)
        if (req->stdio[sig] >= 0 && dup2(req->stdio[sig], sig) < 0)
            goto fail;
    step = SPY_LEARN_STEP_NO_NEW_PRIVS;
    if (req->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        goto fail;
    step = SPY_LEARN_STEP_SECCOMP;
    prog.len = (unsigned short)req->bpf_len;
    prog.filter = (struct sock_filter *)req->bpf;
    listener = (int)spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, req->seccomp_flags, &prog);
    if (listener < 0)
        goto fail;
    /* From here on every syscall waits for the supervisor. */
    sh->listener = listener;
    __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
    execve(req->path, req->argv, envp);
    step = SPY_LEARN_STEP_EXEC;
fail:
    sh->err = errno;
    sh->step = step;
    __atomic_store_n(&sh->state, 2, __ATOMIC_RELEASE);
    _exit(127);
}

static void spy_learn_reap(struct spy_learn_req *req)
{
    int status = 0;
    while (waitpid(req->pid, &status, 0) < 0 && errno == EINTR)
        ;
    req->status = status;
}

/* Start the child.  Returns 0 with req->pid, req->pidfd and req->listener set
 * (all owned by the caller; the fds are O_CLOEXEC), or a negative errno with
 * req->err_step / req->err_errno saying where it failed.  When the child
 * itself failed it has been reaped (req->status); when the parent failed
 * after the child was ready, the child is killed and reaped. */
int spy_learn_start(struct spy_learn_req *req)
{
    volatile struct spy_learn_shared *sh;
    sigset_t all, old;
    struct timespec pause = {0, 20000};
    long waited_ns = 0;
    int state, err;
    pid_t pid;

    req->pid = -1;
    req->pidfd = -1;
    req->listener = -1;
    req->err_step = SPY_LEARN_STEP_NONE;
    req->err_errno = 0;
    req->status = 0;
    req->shared = NULL;

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return -errno;
    memset((void *)sh, 0, sizeof *sh);

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0)
        spy_learn_child(req, sh, &old);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        munmap((void *)sh, sizeof *sh);
        return -err;
    }
    req->pid = pid;

    /* Wait for the child to load the filter (it makes no syscall we could
     * wait on afterwards): short sleeps, growing, for at most 30 s. */
    for (;;) {
        state = __atomic_load_n(&sh->state, __ATOMIC_ACQUIRE);
        if (state != 0)
            break;
        if (waited_ns > 30L * 1000000000L) {
            kill(pid, SIGKILL);
            spy_learn_reap(req);
            req->err_step = SPY_LEARN_STEP_LOST;
            req->err_errno = ETIMEDOUT;
            munmap((void *)sh, sizeof *sh);
            return -ETIMEDOUT;
        }
        if (waitpid(pid, &req->status, WNOHANG) == pid) {
            /* It exited: a failure before the filter (state 2, read again
             * now that it is gone), or killed from outside before it got
             * ready. */
            if (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == 2) {
                req->err_step = sh->step;
                req->err_errno = sh->err ? sh->err : EIO;
            } else {
                req->err_step = SPY_LEARN_STEP_LOST;
                req->err_errno = ECHILD;
            }
            munmap((void *)sh, sizeof *sh);
            return -req->err_errno;
        }
        nanosleep(&pause, NULL);
        waited_ns += pause.tv_nsec;
        if (pause.tv_nsec < 1000000)
            pause.tv_nsec *= 2;
    }
    /* A failed execve() happens after the filter is loaded: the child then
     * waits in exit_group() for an answer, so take the listener as usual;
     * spy_learn_done() reports the failure afterwards. */
    if (state == 2 && sh->step != SPY_LEARN_STEP_EXEC) {
        req->err_step = sh->step;
        req->err_errno = sh->err;
        spy_learn_reap(req);
        munmap((void *)sh, sizeof *sh);
        return -(req->err_errno ? req->err_errno : EIO);
    }
    req->pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
    if (req->pidfd < 0) {
        req->err_step = SPY_LEARN_STEP_PIDFD;
        goto parent_fail;
    }
    req->listener = (int)syscall(__NR_pidfd_getfd, req->pidfd, sh->listener, 0);
    if (req->listener < 0) {
        req->err_step = SPY_LEARN_STEP_GETFD;
        goto parent_fail;
    }
    req->shared = (void *)sh;
    return 0;

parent_fail:
    err = errno;
    req->err_errno = err;
    if (req->pidfd >= 0) {
        close(req->pidfd);
        req->pidfd = -1;
    }
    kill(pid, SIGKILL);
    spy_learn_reap(req);
    munmap((void *)sh, sizeof *sh);
    return -err;
}

/* After the child was reaped: if its execve() failed, set req->err_step /
 * req->err_errno.  Releases the status page; safe to call twice. */
void spy_learn_done(struct spy_learn_req *req)
{
    volatile struct spy_learn_shared *sh = req->shared;
    if (sh == NULL)
        return;
    if (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == 2) {
        req->err_step = sh->step;
        req->err_errno = sh->err;
    }
    req->shared = NULL;
    munmap((void *)sh, sizeof *sh);
}

/* Ask for synchronous wake-ups (Linux 6.6+): the supervisor runs on the CPU of
 * the waiting target, which roughly halves the round trip.  0 or -errno. */
int spy_learn_sync_wakeup(int listener)
{
    __u64 flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) != 0)
        return -errno;
    return 0;
}

static long spy_learn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void spy_learn_record(struct spy_learn_table *t, uint32_t arch, int nr)
{
    int slot;
    unsigned int index;

    for (slot = 0; slot < SPY_LEARN_ARCHES_N; slot++) {
        if (t->arches[slot] == arch)
            break;
        if (t->arches[slot] == 0) {
            t->arches[slot] = arch;
            break;
        }
    }
    if (slot == SPY_LEARN_ARCHES_N) {
        t->other++;
        return;
    }
    if (nr >= 0 && nr < 1024) {
        index = (unsigned int)nr;
    } else if ((nr & __X32_SYSCALL_BIT) && nr > 0
               && (nr & ~__X32_SYSCALL_BIT) < SPY_LEARN_NR_N - 1024) {
        index = 1024u + (unsigned int)(nr & ~__X32_SYSCALL_BIT);
    } else {
        t->other++;
        return;
    }
    t->counts[slot][index]++;
}

#define SPY_LEARN_TIMEOUT 0
#define SPY_LEARN_EXITED 1
#define SPY_LEARN_HANGUP 2

/* Answer notifications until `timeout_ms` passed (returns 0), the process
 * behind `pidfd` exited (1; pass -1 once it is reaped), or no process uses
 * the filter any more (2).  A signal interrupting poll() returns 0 early, so
 * the caller can handle it.  Negative errno on a real failure. */
int spy_learn_loop(int listener, int pidfd, struct spy_learn_table *t, int timeout_ms)
{
    struct seccomp_notif_sizes sizes;
    union { struct seccomp_notif n; char raw[512]; } req;
    union { struct seccomp_notif_resp r; char raw[512]; } resp;
    struct pollfd pfd[2];
    long deadline = spy_learn_now_ms() + timeout_ms;
    int nfds = pidfd >= 0 ? 2 : 1;

    if (spy_raw_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return -errno;
    if (sizes.seccomp_notif > sizeof req || sizes.seccomp_notif_resp > sizeof resp)
        return -EOVERFLOW;

    for (;;) {
        long left = deadline - spy_learn_now_ms();
        int n;
        if (left < 0)
            left = 0;
        pfd[0].fd = listener;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = pidfd;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        n = poll(pfd, (nfds_t)nfds, (int)left);
        if (n < 0)
            return errno == EINTR ? SPY_LEARN_TIMEOUT : -errno;
        if (n == 0)
            return SPY_LEARN_TIMEOUT;
        if (pfd[0].revents & POLLIN) {
            memset(&req, 0, sizes.seccomp_notif);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req.n) != 0) {
                if (errno == EINTR || errno == ENOENT)
                    continue;   /* interrupted, or the target went away */
                return -errno;
            }
            spy_learn_record(t, req.n.data.arch, req.n.data.nr);
            memset(&resp, 0, sizes.seccomp_notif_resp);
            resp.r.id = req.n.id;
            resp.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            t->total++;
            while (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp.r) != 0) {
                if (errno == EINTR)
                    continue;
                if (errno != ENOENT)
                    return -errno;
                t->gone++;      /* the target was killed or interrupted */
                break;
            }
            continue;
        }
        if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            return pfd[0].revents & POLLNVAL ? -EBADF : SPY_LEARN_HANGUP;
        if (nfds == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            return SPY_LEARN_EXITED;
    }
}

/* pidfd_open(pid, flags) and pidfd_getfd(pidfd, fd, 0) for
 * seccomp_py.notify_tools.get_fd: return the new fd (O_CLOEXEC, as the kernel
 * makes it) or -errno.  Raw syscalls: glibc gained wrappers only in 2.36. */
int spy_pidfd_open(int pid, unsigned int flags)
{
    long rc = syscall(__NR_pidfd_open, pid, flags);
    return rc < 0 ? -errno : (int)rc;
}

int spy_pidfd_getfd(int pidfd, int targetfd)
{
    long rc = syscall(__NR_pidfd_getfd, pidfd, targetfd, 0);
    return rc < 0 ? -errno : (int)rc;
}
