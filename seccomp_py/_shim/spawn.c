/* Spawn shim: start a child under a prebuilt seccomp BPF program.
 *
 * spy_spawn() runs in the parent with the GIL released (cffi releases it).
 * Everything the child needs (paths, argv, envp, the BPF program, the fd
 * plan) is prepared by the parent before vfork(); between vfork() and
 * execve() the child makes raw syscalls only: no allocation, no locks, no
 * libseccomp.  The child shares the parent's memory until execve(), so it
 * reports a failure by writing the step and errno into the request (which
 * the parent reads after vfork() returns) and calls _exit(): no error pipe
 * is needed.  The listener fd of a notify filter is sent back over a
 * socketpair with SCM_RIGHTS before execve(); the kernel creates it
 * O_CLOEXEC, so the child's program never sees it.
 *
 * spy_bpf_eval() runs a classic-BPF seccomp program on a seccomp_data the
 * caller describes: spawn uses it to find out, before forking, whether the
 * policy lets the child make execve() (it is made under the filter). */
#include "shim.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <linux/filter.h>

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif

extern char **environ;

enum {
    SPY_STEP_NONE = 0,
    SPY_STEP_SIGNALS = 1,
    SPY_STEP_DUP = 2,
    SPY_STEP_CLOSE_FDS = 3,
    SPY_STEP_CHDIR = 4,
    SPY_STEP_SETSID = 5,
    SPY_STEP_SETPGID = 6,
    SPY_STEP_NO_NEW_PRIVS = 7,
    SPY_STEP_SECCOMP = 8,
    SPY_STEP_SENDMSG = 9,
    SPY_STEP_EXEC = 10,
    SPY_STEP_RECVMSG = 11,
};

static const int SPY_SPAWN_STEP_SIGNALS = SPY_STEP_SIGNALS;
static const int SPY_SPAWN_STEP_DUP = SPY_STEP_DUP;
static const int SPY_SPAWN_STEP_CLOSE_FDS = SPY_STEP_CLOSE_FDS;
static const int SPY_SPAWN_STEP_CHDIR = SPY_STEP_CHDIR;
static const int SPY_SPAWN_STEP_SETSID = SPY_STEP_SETSID;
static const int SPY_SPAWN_STEP_SETPGID = SPY_STEP_SETPGID;
static const int SPY_SPAWN_STEP_NO_NEW_PRIVS = SPY_STEP_NO_NEW_PRIVS;
static const int SPY_SPAWN_STEP_SECCOMP = SPY_STEP_SECCOMP;
static const int SPY_SPAWN_STEP_SENDMSG = SPY_STEP_SENDMSG;
static const int SPY_SPAWN_STEP_EXEC = SPY_STEP_EXEC;
static const int SPY_SPAWN_STEP_RECVMSG = SPY_STEP_RECVMSG;
static const int SPY_NR_EXECVE = __NR_execve;
static const int SPY_NR_SENDMSG = __NR_sendmsg;

struct spy_spawn_req {
    const char *const *paths;   /* NULL-terminated execve() candidates */
    char *const *argv;          /* NULL-terminated */
    char *const *envp;          /* NULL-terminated, or NULL: inherit environ */
    const char *cwd;            /* NULL: keep */
    int stdio[3];               /* -1: keep; else dup2() onto 0, 1, 2 */
    int close_fds;              /* close every fd >= 3 but keep_fds */
    const int *keep_fds;        /* sorted ascending, all >= 3 */
    int n_keep_fds;
    const int *inherit_fds;     /* pass_fds: made inheritable (no FD_CLOEXEC) */
    int n_inherit_fds;
    int restore_signals;        /* SIGPIPE, SIGXFSZ back to SIG_DFL */
    int new_session;            /* setsid() */
    int pgid;                   /* >= 0: setpgid(0, pgid) */
    int umask;                  /* >= 0: umask(umask) */
    int no_new_privs;           /* prctl(PR_SET_NO_NEW_PRIVS) first */
    unsigned int seccomp_flags; /* SECCOMP_FILTER_FLAG_* */
    const void *bpf;            /* struct sock_filter[] */
    unsigned int bpf_len;       /* number of instructions */
    int notify_sock;            /* >= 0: the child sends the listener fd over it */
    int notify_peer;            /* the parent's end, where it is received */
    /* out */
    int err_step;
    int err_errno;
    int listener_fd;            /* received listener, or -1 */
    int status;                 /* wait status of a child that failed */
};

/* ---- the child: raw syscalls only ------------------------------------------ */

static void __attribute__((noreturn))
spy_child_fail(struct spy_spawn_req *req, int step, int err)
{
    req->err_errno = err;
    req->err_step = step;
    _exit(255);
}

static int spy_child_close_fds(const struct spy_spawn_req *req)
{
    unsigned int lo = 3;
    int i;

    for (i = 0; i <= req->n_keep_fds; i++) {
        unsigned int hi = i < req->n_keep_fds ? (unsigned int)req->keep_fds[i] : ~0U;
        if (hi > lo) {
            if (syscall(__NR_close_range, lo, hi - 1, 0) != 0) {
                if (errno != ENOSYS && errno != EINVAL)
                    return -1;
                {   /* kernels before 5.9: close one by one */
                    struct rlimit rl;
                    unsigned int fd, top = hi;
                    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
                        top = (unsigned int)rl.rlim_cur;
                    if (top > 1u << 20)
                        top = 1u << 20;
                    for (fd = lo; fd < top; fd++)
                        close((int)fd);
                }
            }
        }
        if (i < req->n_keep_fds)
            lo = (unsigned int)req->keep_fds[i] + 1;
    }
    return 0;
}

static void __attribute__((noreturn, noinline))
spy_child(struct spy_spawn_req *req, char *const *envp, const sigset_t *oldmask)
{
    struct sock_fprog prog;
    int src[3];
    int i, sig, listener, saved;
    const char *const *path;

    /* 1. signals: no Python handler may run in a child that shares memory. */
    for (sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) != 0)
            continue;   /* glibc's internal signals */
        if (sa.sa_handler == SIG_IGN) {
            if (req->restore_signals && (sig == SIGPIPE || sig == SIGXFSZ)) {
                /* fall through to the reset below */
            } else {
                continue;
            }
        } else if (sa.sa_handler == SIG_DFL) {
            continue;
        }
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        if (sigaction(sig, &sa, NULL) != 0)
            spy_child_fail(req, SPY_STEP_SIGNALS, errno);
    }
    if (sigprocmask(SIG_SETMASK, oldmask, NULL) != 0)
        spy_child_fail(req, SPY_STEP_SIGNALS, errno);

    /* 2. stdio: move any source in 0..2 out of the way first. */
    for (i = 0; i < 3; i++) {
        src[i] = req->stdio[i];
        if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (src[i] < 0)
                spy_child_fail(req, SPY_STEP_DUP, errno);
        }
    }
    for (i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue;
        if (src[i] == i) {
            if (fcntl(i, F_SETFD, 0) != 0)
                spy_child_fail(req, SPY_STEP_DUP, errno);
        } else if (dup2(src[i], i) < 0) {
            spy_child_fail(req, SPY_STEP_DUP, errno);
        }
    }

    /* 3. close_fds */
    if (req->close_fds && spy_child_close_fds(req) != 0)
        spy_child_fail(req, SPY_STEP_CLOSE_FDS, errno);
    for (i = 0; i < req->n_inherit_fds; i++)
        if (fcntl(req->inherit_fds[i], F_SETFD, 0) != 0)
            spy_child_fail(req, SPY_STEP_CLOSE_FDS, errno);

    /* 4. cwd, session, process group, umask */
    if (req->cwd != NULL && chdir(req->cwd) != 0)
        spy_child_fail(req, SPY_STEP_CHDIR, errno);
    if (req->new_session && setsid() < 0)
        spy_child_fail(req, SPY_STEP_SETSID, errno);
    if (req->pgid >= 0 && setpgid(0, req->pgid) != 0)
        spy_child_fail(req, SPY_STEP_SETPGID, errno);
    if (req->umask >= 0)
        umask((mode_t)req->umask);

    /* 5. the filter */
    if (req->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        spy_child_fail(req, SPY_STEP_NO_NEW_PRIVS, errno);
    prog.len = (unsigned short)req->bpf_len;
    prog.filter = (struct sock_filter *)req->bpf;
    listener = (int)spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, req->seccomp_flags, &prog);
    if (listener < 0)
        spy_child_fail(req, SPY_STEP_SECCOMP, errno);

    /* From here on every syscall goes through the filter. */
    if (req->notify_sock >= 0) {
        struct msghdr msg;
        struct iovec iov;
        char byte = 'L';
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        struct cmsghdr *cmsg;
        ssize_t sent;

        memset(&msg, 0, sizeof msg);
        memset(&control, 0, sizeof control);
        iov.iov_base = &byte;
        iov.iov_len = 1;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &listener, sizeof(int));
        do {
            sent = sendmsg(req->notify_sock, &msg, MSG_NOSIGNAL);
        } while (sent < 0 && errno == EINTR);
        if (sent != 1)
            spy_child_fail(req, SPY_STEP_SENDMSG, sent < 0 ? errno : EIO);
        /* The listener is O_CLOEXEC (seccomp(2)): execve() closes it. */
    }

    /* 6. execve: try each candidate like execvp(3) does. */
    saved = 0;
    for (path = req->paths; *path != NULL; path++) {
        execve(*path, req->argv, envp);
        if (errno != ENOENT && errno != ENOTDIR && saved == 0)
            saved = errno;
    }
    spy_child_fail(req, SPY_STEP_EXEC, saved ? saved : errno);
}

/* ---- the parent --------------------------------------------------------------- */

static int spy_recv_listener(int sock)
{
    struct msghdr msg;
    struct iovec iov;
    char byte;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } control;
    struct cmsghdr *cmsg;
    ssize_t got;
    int fd = -1;

    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    iov.iov_base = &byte;
    iov.iov_len = 1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    do {
        got = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return -errno;
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        size_t n, k;
        int fds[8];
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (n > 8)
            n = 8;
        memcpy(fds, CMSG_DATA(cmsg), n * sizeof(int));
        for (k = 0; k < n; k++) {
            if (fd < 0)
                fd = fds[k];
            else
                close(fds[k]);   /* never more than one: drop extras */
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        if (fd >= 0)
            close(fd);
        return -EMSGSIZE;
    }
    if (got != 1 || fd < 0) {
        if (fd >= 0)
            close(fd);
        return -EBADMSG;
    }
    return fd;
}

/* Start the child.  Returns its pid (> 0) on success.  When the child failed
 * before execve() succeeded, the child has been reaped, req->err_step and
 * req->err_errno say where and why, req->status holds its wait status, and 0
 * is returned.  Returns -errno when vfork() itself failed.  Releasing the GIL
 * is cffi's job; this function takes no lock the child could need. */
int spy_spawn(struct spy_spawn_req *req)
{
    sigset_t all, old;
    char *const *envp = req->envp != NULL ? req->envp : environ;
    pid_t pid;
    int saved_errno, rc;

    req->err_step = SPY_STEP_NONE;
    req->err_errno = 0;
    req->listener_fd = -1;
    req->status = 0;

    sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
        return -EINVAL;
    pid = vfork();
    if (pid == 0)
        spy_child(req, envp, &old);
    saved_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -saved_errno;
    /* The child wrote into *req before it exited: do not trust registers. */
    __asm__ __volatile__("" ::: "memory");

    if (req->err_step != SPY_STEP_NONE) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        req->status = status;
        return 0;
    }
    if (req->notify_sock >= 0) {
        rc = spy_recv_listener(req->notify_peer);
        if (rc < 0) {
            req->err_step = SPY_STEP_RECVMSG;
            req->err_errno = -rc;
        } else {
            req->listener_fd = rc;
        }
    }
    return (int)pid;
}

/* ---- a classic-BPF interpreter for seccomp programs ----------------------- */

/* Run `prog` (n instructions) on the seccomp_data {nr, arch, ip, args[6]} and
 * store the filter's return value in *result.  Returns 0, or -EINVAL for a
 * program the kernel would refuse (bad jump, bad load offset, no return). */
int spy_bpf_eval(const void *prog, unsigned int n, int nr, uint32_t arch,
                 uint64_t ip, const uint64_t *args, uint32_t *result)
{
    const struct sock_filter *insns = prog;
    struct seccomp_data data;
    uint32_t A = 0, X = 0, M[BPF_MEMWORDS];
    unsigned int pc = 0, steps = 0;

    memset(&data, 0, sizeof data);
    memset(M, 0, sizeof M);
    data.nr = nr;
    data.arch = arch;
    data.instruction_pointer = ip;
    memcpy(data.args, args, sizeof data.args);

    while (pc < n && steps++ <= n) {
        const struct sock_filter *f = &insns[pc++];
        uint32_t k = f->k, src;
        switch (BPF_CLASS(f->code)) {
        case BPF_LD:
        case BPF_LDX: {
            uint32_t v;
            switch (BPF_MODE(f->code)) {
            case BPF_IMM: v = k; break;
            case BPF_ABS:
                if (BPF_SIZE(f->code) != BPF_W || k % 4 || k + 4 > sizeof data)
                    return -EINVAL;
                memcpy(&v, (const char *)&data + k, 4);
                break;
            case BPF_MEM:
                if (k >= BPF_MEMWORDS)
                    return -EINVAL;
                v = M[k];
                break;
            case BPF_LEN: v = sizeof data; break;
            default: return -EINVAL;
            }
            if (BPF_CLASS(f->code) == BPF_LD)
                A = v;
            else
                X = v;
            break;
        }
        case BPF_ST:
        case BPF_STX:
            if (k >= BPF_MEMWORDS)
                return -EINVAL;
            M[k] = BPF_CLASS(f->code) == BPF_ST ? A : X;
            break;
        case BPF_ALU:
            src = BPF_SRC(f->code) == BPF_X ? X : k;
            switch (BPF_OP(f->code)) {
            case BPF_ADD: A += src; break;
            case BPF_SUB: A -= src; break;
            case BPF_MUL: A *= src; break;
            case BPF_DIV: if (src == 0) { *result = 0; return 0; } A /= src; break;
            case BPF_MOD: if (src == 0) { *result = 0; return 0; } A %= src; break;
            case BPF_OR: A |= src; break;
            case BPF_AND: A &= src; break;
            case BPF_XOR: A ^= src; break;
            case BPF_LSH: A = src >= 32 ? 0 : A << src; break;
            case BPF_RSH: A = src >= 32 ? 0 : A >> src; break;
            case BPF_NEG: A = -A; break;
            default: return -EINVAL;
            }
            break;
        case BPF_JMP: {
            int cond;
            src = BPF_SRC(f->code) == BPF_X ? X : k;
            switch (BPF_OP(f->code)) {
            case BPF_JA:
                if (k >= n - pc)
                    return -EINVAL;
                pc += k;
                continue;
            case BPF_JEQ: cond = A == src; break;
            case BPF_JGT: cond = A > src; break;
            case BPF_JGE: cond = A >= src; break;
            case BPF_JSET: cond = (A & src) != 0; break;
            default: return -EINVAL;
            }
            pc += cond ? f->jt : f->jf;
            break;
        }
        case BPF_RET:
            switch (BPF_RVAL(f->code)) {
            case BPF_K: *result = k; return 0;
            case BPF_A: *result = A; return 0;
            default: return -EINVAL;
            }
        case BPF_MISC:
            if (BPF_MISCOP(f->code) == BPF_TAX)
                X = A;
            else if (BPF_MISCOP(f->code) == BPF_TXA)
                A = X;
            else
                return -EINVAL;
            break;
        default:
            return -EINVAL;
        }
    }
    return -EINVAL;
}
