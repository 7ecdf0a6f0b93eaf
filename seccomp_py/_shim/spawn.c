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
 * spawn.py runs the program with spy_bpf_eval() (verify.c) to find out,
 * before forking, whether the policy lets the child make execve(). */
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
    SPY_STEP_RLIMIT = 12,
    SPY_STEP_SETGROUPS = 13,
    SPY_STEP_SETGID = 14,
    SPY_STEP_SETUID = 15,
    SPY_STEP_SECCOMP_PRE = 16,
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
static const int SPY_SPAWN_STEP_RLIMIT = SPY_STEP_RLIMIT;
static const int SPY_SPAWN_STEP_SETGROUPS = SPY_STEP_SETGROUPS;
static const int SPY_SPAWN_STEP_SETGID = SPY_STEP_SETGID;
static const int SPY_SPAWN_STEP_SETUID = SPY_STEP_SETUID;
static const int SPY_SPAWN_STEP_SECCOMP_PRE = SPY_STEP_SECCOMP_PRE;
static const int SPY_NR_EXECVE = __NR_execve;
static const int SPY_NR_SENDMSG = __NR_sendmsg;

/* One resource limit for the child: prlimit64(0, resource, {soft, hard}). */
struct spy_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

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
    /* the child's sandbox, applied after umask and before the filters */
    const struct spy_rlimit *rlimits;
    int n_rlimits;
    int set_groups;             /* setgroups(n_groups, groups) */
    const uint32_t *groups;
    int n_groups;
    int64_t gid;                /* >= 0: setresgid(gid, gid, gid) */
    int64_t uid;                /* >= 0: setresuid(uid, uid, uid) */
    const void *bpf_pre;        /* NULL, or a program loaded before bpf (flags 0) */
    unsigned int bpf_pre_len;
    /* out */
    int err_step;
    int err_errno;
    int err_detail;             /* SPY_STEP_RLIMIT: the index into rlimits */
    int listener_fd;            /* received listener, or -1 */
    int status;                 /* wait status of a child that failed */
};

/* ---- the child: raw syscalls only ------------------------------------------ */

static void __attribute__((noreturn))
spy_child_fail(struct spy_spawn_req *req, int step, int err)
{
    if (step != SPY_STEP_RLIMIT)
        req->err_detail = -1;
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

#if defined(__NR_setresuid32)
#define SPY_NR_SETRESUID __NR_setresuid32
#define SPY_NR_SETRESGID __NR_setresgid32
#define SPY_NR_SETGROUPS __NR_setgroups32
#else
#define SPY_NR_SETRESUID __NR_setresuid
#define SPY_NR_SETRESGID __NR_setresgid
#define SPY_NR_SETGROUPS __NR_setgroups
#endif

/* The sandbox steps that cannot be undone by the child once done: resource
 * limits (raising a hard limit needs CAP_SYS_RESOURCE, which the uid change
 * drops), supplementary groups, gid, uid -- in that order, since each later
 * step gives up the privilege the earlier ones need -- then the extra
 * program (no_network) and the filter.  Raw syscalls only: glibc's
 * setuid()/setgroups() family signals every thread of the process (setxid),
 * which is wrong in a vfork child sharing the parent's memory and threads'
 * bookkeeping; the raw calls change this task only.  Returns 0, or the failed
 * step with errno set and *detail the failing rlimit index. */
static int spy_apply_sandbox(const struct spy_spawn_req *req, int *detail)
{
    int i;

    for (i = 0; i < req->n_rlimits; i++) {
        uint64_t lim[2];
        lim[0] = req->rlimits[i].soft;
        lim[1] = req->rlimits[i].hard;
        if (syscall(__NR_prlimit64, 0, req->rlimits[i].resource, lim, NULL) != 0) {
            *detail = i;
            return SPY_STEP_RLIMIT;
        }
    }
    if (req->set_groups && syscall(SPY_NR_SETGROUPS, req->n_groups, req->groups) != 0)
        return SPY_STEP_SETGROUPS;
    if (req->gid >= 0 && syscall(SPY_NR_SETRESGID, (unsigned long)req->gid,
                                 (unsigned long)req->gid, (unsigned long)req->gid) != 0)
        return SPY_STEP_SETGID;
    if (req->uid >= 0 && syscall(SPY_NR_SETRESUID, (unsigned long)req->uid,
                                 (unsigned long)req->uid, (unsigned long)req->uid) != 0)
        return SPY_STEP_SETUID;
    return 0;
}

/* no_new_privs, the extra program, then the filter; returns the listener (or
 * 0) or -1 with errno set and *step the failed step. */
static int spy_load_filters(const struct spy_spawn_req *req, int *step)
{
    struct sock_fprog prog;
    long rc;

    if (req->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        *step = SPY_STEP_NO_NEW_PRIVS;
        return -1;
    }
    if (req->bpf_pre != NULL) {
        prog.len = (unsigned short)req->bpf_pre_len;
        prog.filter = (struct sock_filter *)req->bpf_pre;
        if (spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
            *step = SPY_STEP_SECCOMP_PRE;
            return -1;
        }
    }
    prog.len = (unsigned short)req->bpf_len;
    prog.filter = (struct sock_filter *)req->bpf;
    rc = spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, req->seccomp_flags, &prog);
    if (rc < 0) {
        *step = SPY_STEP_SECCOMP;
        return -1;
    }
    return (int)rc;
}

static void __attribute__((noreturn, noinline))
spy_child(struct spy_spawn_req *req, char *const *envp, const sigset_t *oldmask)
{
    int src[3];
    int i, sig, listener, saved, step;
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

    /* 5. rlimits, groups, gid, uid */
    step = spy_apply_sandbox(req, &req->err_detail);
    if (step != 0)
        spy_child_fail(req, step, errno);

    /* 6. the filters */
    listener = spy_load_filters(req, &step);
    if (listener < 0)
        spy_child_fail(req, step, errno);

    /* From here on every syscall goes through the filter. */
    if (req->notify_sock >= 0) {
        /* spy_build_msg / spy_sendmsg_all (notify.c): no allocation, no locks. */
        struct msghdr msg;
        struct iovec iov;
        union spy_cmsg cm;
        int rc;

        spy_build_msg(&msg, &iov, &cm, listener, "L", 1);
        rc = spy_sendmsg_all(req->notify_sock, &msg);
        if (rc < 0)
            spy_child_fail(req, SPY_STEP_SENDMSG, rc == -EMSGSIZE ? EIO : -rc);
        /* The listener is O_CLOEXEC (seccomp(2)): execve() closes it. */
    }

    /* 7. execve: try each candidate like execvp(3) does. */
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
    req->err_detail = -1;
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

/* ---- spawn templates: a confined fork server ------------------------------
 *
 * Loading a large filter costs the kernel a BPF check and a JIT compile per
 * child (docs/benchmarks.md measures it).  A template loads it once:
 * spy_template_start() forks a process that loads the filter and then waits
 * on a stream socket for requests; for each one it vfork()s (clone with
 * CLONE_VM | CLONE_VFORK | CLONE_PARENT, so the child is the Python
 * process's own child) a child that inherits the filter, sets up its fds
 * and execve()s.  Only raw syscalls are made in the template and its
 * children; the template's buffers are static (it is single-threaded). */

#include <sched.h>

#define SPY_TMPL_MAGIC 0x53505954u
#define SPY_TMPL_MAX_FDS 64
#define SPY_TMPL_BLOB (2u << 20)
#define SPY_TMPL_MAX_STRINGS 65536

struct spy_tmpl_header {
    uint32_t magic;
    uint32_t blob_len;          /* bytes after the header */
    int32_t close_fds, restore_signals, new_session, pgid, umask;
    int32_t n_paths, n_argv, n_envp;   /* strings in the blob, in this order */
    int32_t n_fds;              /* fds attached: stdio (3), cwd, pass_fds */
    int32_t stdio[3];           /* index into the fds, or -1: close it */
    int32_t cwd;                /* index into the fds, or -1 */
    int32_t n_pass;
    int32_t pass_index[SPY_TMPL_MAX_FDS];
    int32_t pass_target[SPY_TMPL_MAX_FDS];
};

struct spy_tmpl_reply {
    int32_t pid;
    int32_t err_step;
    int32_t err_errno;
    int32_t err_detail;
};

static const int SPY_TEMPLATE_MAX_FDS = SPY_TMPL_MAX_FDS;
static const unsigned int SPY_TEMPLATE_BLOB = SPY_TMPL_BLOB;
static const unsigned int SPY_TEMPLATE_MAGIC = SPY_TMPL_MAGIC;
static const int SPY_TEMPLATE_MAX_STRINGS = SPY_TMPL_MAX_STRINGS;

struct spy_tmpl_job {
    struct spy_tmpl_header *h;
    int *fds;
    char **paths, **argv, **envp;
    const sigset_t *mask;
    int err_step, err_errno;
};

static struct spy_tmpl_header spy_tmpl_h;
static char spy_tmpl_blob[SPY_TMPL_BLOB + 1];
static char *spy_tmpl_strings[SPY_TMPL_MAX_STRINGS + 3];
static int spy_tmpl_fds[SPY_TMPL_MAX_FDS + 8];
static char spy_tmpl_stack[256 * 1024] __attribute__((aligned(64)));

static int __attribute__((noreturn)) spy_tmpl_fail(struct spy_tmpl_job *job, int step, int err)
{
    job->err_errno = err;
    job->err_step = step;
    _exit(255);
}

/* The template's child: shares the template's memory until execve(). */
static int spy_tmpl_child(void *arg)
{
    struct spy_tmpl_job *job = arg;
    struct spy_tmpl_header *h = job->h;
    int src[3 + SPY_TMPL_MAX_FDS];
    int i, hi = 3, saved;
    char **path;

    if (h->restore_signals) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        sigaction(SIGXFSZ, &sa, NULL);
    }
    if (sigprocmask(SIG_SETMASK, job->mask, NULL) != 0)
        spy_tmpl_fail(job, SPY_STEP_SIGNALS, errno);

    /* Move every received fd above all targets, then dup2() onto them. */
    for (i = 0; i < h->n_pass; i++)
        if (h->pass_target[i] + 1 > hi)
            hi = h->pass_target[i] + 1;
    for (i = 0; i < 3 + h->n_pass; i++) {
        int idx = i < 3 ? h->stdio[i] : h->pass_index[i - 3];
        src[i] = idx >= 0 ? job->fds[idx] : -1;
        if (src[i] >= 0 && src[i] < hi) {
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, hi);
            if (src[i] < 0)
                spy_tmpl_fail(job, SPY_STEP_DUP, errno);
        }
    }
    for (i = 0; i < 3; i++) {
        if (src[i] < 0)
            close(i);
        else if (dup2(src[i], i) < 0)
            spy_tmpl_fail(job, SPY_STEP_DUP, errno);
    }
    for (i = 0; i < h->n_pass; i++)
        if (dup2(src[3 + i], h->pass_target[i]) < 0)
            spy_tmpl_fail(job, SPY_STEP_DUP, errno);
    if (h->cwd >= 0 && fchdir(job->fds[h->cwd]) != 0)
        spy_tmpl_fail(job, SPY_STEP_CHDIR, errno);
    if (h->close_fds) {
        /* keep 0..2 and the pass_fds targets; everything else the template
         * holds is O_CLOEXEC anyway. */
        int keep[SPY_TMPL_MAX_FDS];
        struct spy_spawn_req r;
        int n = 0, j;
        for (i = 0; i < h->n_pass; i++) {   /* insertion sort, small n */
            int t = h->pass_target[i];
            for (j = n; j > 0 && keep[j - 1] > t; j--)
                keep[j] = keep[j - 1];
            keep[j] = t;
            n++;
        }
        memset(&r, 0, sizeof r);
        r.keep_fds = keep;
        r.n_keep_fds = n;
        if (spy_child_close_fds(&r) != 0)
            spy_tmpl_fail(job, SPY_STEP_CLOSE_FDS, errno);
    }
    if (h->new_session && setsid() < 0)
        spy_tmpl_fail(job, SPY_STEP_SETSID, errno);
    if (h->pgid >= 0 && setpgid(0, h->pgid) != 0)
        spy_tmpl_fail(job, SPY_STEP_SETPGID, errno);
    if (h->umask >= 0)
        umask((mode_t)h->umask);

    saved = 0;
    for (path = job->paths; *path != NULL; path++) {
        execve(*path, job->argv, job->envp);
        if (errno != ENOENT && errno != ENOTDIR && saved == 0)
            saved = errno;
    }
    spy_tmpl_fail(job, SPY_STEP_EXEC, saved ? saved : errno);
}

static int spy_tmpl_read_full(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t got = read(fd, buf, len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        buf += got;
        len -= (size_t)got;
    }
    return 0;
}

static int spy_tmpl_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t put = send(fd, p, len, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        len -= (size_t)put;
    }
    return 0;
}

/* Split n NUL-terminated strings from *pos into out[0..n-1], NULL after. */
static int spy_tmpl_split(char **pos, char *end, char **out, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        char *s = *pos, *z;
        if (s >= end)
            return -1;
        z = memchr(s, '\0', (size_t)(end - s));
        if (z == NULL)
            return -1;
        out[i] = s;
        *pos = z + 1;
    }
    out[n] = NULL;
    return 0;
}

static void __attribute__((noreturn))
spy_tmpl_main(struct spy_spawn_req *req, int sock, pid_t parent, const sigset_t *mask)
{
    struct spy_tmpl_reply reply;
    int sig, i;

    /* Signals: default handlers (Python's must never run here), all blocked
     * in the template itself; die with the parent. */
    for (sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) != 0 || sa.sa_handler == SIG_IGN || sa.sa_handler == SIG_DFL)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
    memset(&reply, 0, sizeof reply);
    /* No PR_SET_PDEATHSIG: it fires when the creating *thread* exits.  The
     * template exits when the parent's end of the socket closes instead,
     * which also happens when the parent process dies. */
    if (getppid() != parent)
        _exit(1);
    {   /* close everything but stdio and the socket */
        int keep[1];
        struct spy_spawn_req r;
        memset(&r, 0, sizeof r);
        keep[0] = sock;
        r.keep_fds = keep;
        r.n_keep_fds = 1;
        if (sock < 3 || spy_child_close_fds(&r) != 0) {
            reply.err_step = SPY_STEP_CLOSE_FDS;
            reply.err_errno = sock < 3 ? EBADF : errno;
        }
    }
    reply.err_detail = -1;
    if (!reply.err_step) {   /* the sandbox, for the template and all its children */
        int detail = -1, step = spy_apply_sandbox(req, &detail);
        if (step != 0) {
            reply.err_step = step;
            reply.err_errno = errno;
            reply.err_detail = detail;
        }
    }
    if (!reply.err_step) {
        int step = 0;
        if (spy_load_filters(req, &step) < 0) {
            reply.err_step = step;
            reply.err_errno = errno;
        }
    }
    /* From here on the template is confined.  First message: ready or not. */
    if (spy_tmpl_write_full(sock, &reply, sizeof reply) != 0 || reply.err_step)
        _exit(1);

    for (;;) {
        struct msghdr msg;
        struct iovec iov;
        union {
            char buf[CMSG_SPACE(sizeof(int) * (SPY_TMPL_MAX_FDS + 8))];
            struct cmsghdr align;
        } control;
        struct cmsghdr *cmsg;
        struct spy_tmpl_job job;
        ssize_t got;
        int nfds = 0, bad = 0;
        char *pos, *end;
        pid_t pid;

        memset(&msg, 0, sizeof msg);
        memset(&control, 0, sizeof control);
        memset(&spy_tmpl_h, 0, sizeof spy_tmpl_h);
        iov.iov_base = &spy_tmpl_h;
        iov.iov_len = sizeof spy_tmpl_h;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        do {
            got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        } while (got < 0 && errno == EINTR);
        if (got <= 0)
            _exit(0);   /* the parent closed the template */
        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
            size_t n, k;
            int tmp[SPY_TMPL_MAX_FDS + 8];
            if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                continue;
            n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (n > SPY_TMPL_MAX_FDS + 8)
                n = SPY_TMPL_MAX_FDS + 8;
            memcpy(tmp, CMSG_DATA(cmsg), n * sizeof(int));
            for (k = 0; k < n; k++) {
                if (nfds < SPY_TMPL_MAX_FDS + 8)
                    spy_tmpl_fds[nfds++] = tmp[k];
                else
                    close(tmp[k]);
            }
        }
        memset(&reply, 0, sizeof reply);
        if ((size_t)got != sizeof spy_tmpl_h || spy_tmpl_h.magic != SPY_TMPL_MAGIC
                || spy_tmpl_h.blob_len > SPY_TMPL_BLOB || (msg.msg_flags & MSG_CTRUNC))
            _exit(2);   /* protocol error: the parent sees EOF */
        if (spy_tmpl_read_full(sock, spy_tmpl_blob, spy_tmpl_h.blob_len) != 0)
            _exit(2);
        spy_tmpl_blob[spy_tmpl_h.blob_len] = '\0';

        /* validate */
        if (spy_tmpl_h.n_fds != nfds || spy_tmpl_h.n_pass < 0 || spy_tmpl_h.n_pass > SPY_TMPL_MAX_FDS
                || spy_tmpl_h.n_paths < 1 || spy_tmpl_h.n_argv < 1 || spy_tmpl_h.n_envp < 0
                || (long)spy_tmpl_h.n_paths + spy_tmpl_h.n_argv + spy_tmpl_h.n_envp > SPY_TMPL_MAX_STRINGS)
            bad = 1;
        for (i = 0; !bad && i < 3; i++)
            if (spy_tmpl_h.stdio[i] >= nfds)
                bad = 1;
        if (spy_tmpl_h.cwd >= nfds)
            bad = 1;
        for (i = 0; !bad && i < spy_tmpl_h.n_pass; i++)
            if (spy_tmpl_h.pass_index[i] < 0 || spy_tmpl_h.pass_index[i] >= nfds
                    || spy_tmpl_h.pass_target[i] < 3)
                bad = 1;
        memset(&job, 0, sizeof job);
        if (!bad) {
            pos = spy_tmpl_blob;
            end = spy_tmpl_blob + spy_tmpl_h.blob_len;
            job.paths = spy_tmpl_strings;
            job.argv = job.paths + spy_tmpl_h.n_paths + 1;
            job.envp = job.argv + spy_tmpl_h.n_argv + 1;
            if (spy_tmpl_split(&pos, end, job.paths, spy_tmpl_h.n_paths) != 0
                    || spy_tmpl_split(&pos, end, job.argv, spy_tmpl_h.n_argv) != 0
                    || spy_tmpl_split(&pos, end, job.envp, spy_tmpl_h.n_envp) != 0)
                bad = 1;
        }
        if (bad) {
            reply.err_step = SPY_STEP_RECVMSG;
            reply.err_errno = EPROTO;
        } else {
            job.h = &spy_tmpl_h;
            job.fds = spy_tmpl_fds;
            job.mask = mask;
            pid = clone(spy_tmpl_child, spy_tmpl_stack + sizeof spy_tmpl_stack,
                        CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, &job);
            __asm__ __volatile__("" ::: "memory");
            if (pid < 0) {
                reply.err_step = SPY_STEP_NONE;
                reply.err_errno = errno;
                reply.pid = -1;
            } else {
                reply.pid = pid;
                reply.err_step = job.err_step;
                reply.err_errno = job.err_errno;
            }
        }
        for (i = 0; i < nfds; i++)
            close(spy_tmpl_fds[i]);
        if (spy_tmpl_write_full(sock, &reply, sizeof reply) != 0)
            _exit(3);
    }
}

/* Fork the template: it loads req's filter (no_new_privs, bpf, flags) and
 * serves requests on `sock` (its end of a socketpair, >= 3).  Returns the
 * template's pid, or -errno.  The caller then reads the ready reply. */
int spy_template_start(struct spy_spawn_req *req, int sock)
{
    sigset_t all, old;
    pid_t parent = getpid(), pid;
    int saved;

    sigfillset(&all);
    if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
        return -EINVAL;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    pid = _Fork();
#else
    pid = fork();
#endif
    if (pid == 0)
        spy_tmpl_main(req, sock, parent, &old);
    saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -saved : (int)pid;
}

/* Parent side: read a reply (the ready message or a spawn result). */
int spy_template_reply(int sock, int *pid, int *err_step, int *err_errno, int *err_detail)
{
    struct spy_tmpl_reply reply;
    if (spy_tmpl_read_full(sock, (char *)&reply, sizeof reply) != 0)
        return errno ? -errno : -EPIPE;
    *pid = reply.pid;
    *err_step = reply.err_step;
    *err_errno = reply.err_errno;
    *err_detail = reply.err_detail;
    return 0;
}

/* Parent side: send one request (header with fds attached, then the blob)
 * and read the reply.  A header with n_envp < 0 asks for this process's
 * environ(7) as the child's environment (what execve(2) without envp would
 * pass; subprocess does the same for env=None): its strings are appended to
 * the blob here, and n_envp and blob_len set.  Returns 0 or -errno: -E2BIG
 * when the strings do not fit a request (nothing was sent), else the
 * template is gone (-EPIPE). */
int spy_template_spawn(int sock, void *header, size_t header_len,
                       const void *blob, size_t blob_len, const int *fds, int nfds,
                       int *pid, int *err_step, int *err_errno)
{
    struct spy_tmpl_header *h = header;
    struct msghdr msg;
    struct iovec iov[3];
    union {
        char buf[CMSG_SPACE(sizeof(int) * (SPY_TMPL_MAX_FDS + 8))];
        struct cmsghdr align;
    } control;
    struct cmsghdr *cmsg;
    char *env = NULL;
    size_t env_len = 0, total, done;
    ssize_t put;
    int i, rc = 0;

    if (header_len != sizeof(struct spy_tmpl_header) || nfds < 0 || nfds > SPY_TMPL_MAX_FDS + 8)
        return -EINVAL;
    if (h->n_envp < 0) {
        char **e;
        long n = 0;
        for (e = environ; e != NULL && *e != NULL; e++, n++)
            env_len += strlen(*e) + 1;
        if (blob_len + env_len > SPY_TMPL_BLOB
                || (long)h->n_paths + h->n_argv + n > SPY_TMPL_MAX_STRINGS)
            return -E2BIG;
        env = malloc(env_len + 1);
        if (env == NULL)
            return -ENOMEM;
        {
            size_t at = 0;
            long k;
            for (k = 0, e = environ; k < n && e[k] != NULL; k++) {
                size_t len = strlen(e[k]) + 1;
                if (at + len > env_len)
                    break;   /* environ changed meanwhile: keep what fits */
                memcpy(env + at, e[k], len);
                at += len;
            }
            n = k;
            env_len = at;
        }
        h->n_envp = (int32_t)n;
        h->blob_len = (uint32_t)(blob_len + env_len);
    }
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    iov[0].iov_base = header;
    iov[0].iov_len = header_len;
    iov[1].iov_base = (void *)blob;
    iov[1].iov_len = blob_len;
    iov[2].iov_base = env;
    iov[2].iov_len = env_len;
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    if (nfds > 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
    }
    total = header_len + blob_len + env_len;
    do {
        put = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (put < 0 && errno == EINTR);
    if (put < 0) {
        rc = -errno;
        goto out;
    }
    done = (size_t)put;
    if (done < header_len) {
        rc = -EPIPE;   /* the header carries the fds: it must go at once */
        goto out;
    }
    /* the rest of the blob and the environment, if the socket took less */
    for (i = 1; i < 3 && done < total; i++) {
        size_t start = i == 1 ? header_len : header_len + blob_len;
        size_t len = iov[i].iov_len;
        if (done < start + len) {
            size_t skip = done > start ? done - start : 0;
            if (spy_tmpl_write_full(sock, (const char *)iov[i].iov_base + skip, len - skip) != 0) {
                rc = errno ? -errno : -EPIPE;
                goto out;
            }
            done = start + len;
        }
    }
    {
        int detail;
        rc = spy_template_reply(sock, pid, err_step, err_errno, &detail);
    }
out:
    free(env);
    return rc;
}
