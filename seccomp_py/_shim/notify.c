/* Notify shim: helpers for seccomp_py.notify (seccomp_unotify(2)).
 *
 * Raw ioctls on the listener fd, sized by the kernel (SECCOMP_GET_NOTIF_SIZES)
 * rather than by this header's sizeof, the install-and-hand-over step that
 * must make no syscall but sendmsg(2) and close(2) once the filter is in
 * force, and a C receive/continue loop for benchmarks and the learn mode. */
#include "shim.h"
#include <poll.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <linux/filter.h>

static const uint32_t SPY_USER_NOTIF_FLAG_CONTINUE = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
static const uint32_t SPY_ADDFD_FLAG_SETFD = SECCOMP_ADDFD_FLAG_SETFD;
static const uint32_t SPY_ADDFD_FLAG_SEND = SECCOMP_ADDFD_FLAG_SEND;
static const uint64_t SPY_USER_NOTIF_FD_SYNC_WAKE_UP = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
static const unsigned int SPY_FILTER_FLAG_TSYNC = SECCOMP_FILTER_FLAG_TSYNC;
static const unsigned int SPY_FILTER_FLAG_LOG = SECCOMP_FILTER_FLAG_LOG;
static const unsigned int SPY_FILTER_FLAG_SPEC_ALLOW = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
static const unsigned int SPY_FILTER_FLAG_NEW_LISTENER = SECCOMP_FILTER_FLAG_NEW_LISTENER;
static const unsigned int SPY_FILTER_FLAG_TSYNC_ESRCH = SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
static const unsigned int SPY_FILTER_FLAG_WAIT_KILLABLE_RECV = SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
static const unsigned long SPY_IOCTL_NOTIF_RECV = SECCOMP_IOCTL_NOTIF_RECV;
static const unsigned long SPY_IOCTL_NOTIF_SEND = SECCOMP_IOCTL_NOTIF_SEND;
static const unsigned long SPY_IOCTL_NOTIF_ID_VALID = SECCOMP_IOCTL_NOTIF_ID_VALID;
static const unsigned long SPY_IOCTL_NOTIF_ADDFD = SECCOMP_IOCTL_NOTIF_ADDFD;
static const unsigned long SPY_IOCTL_NOTIF_SET_FLAGS = SECCOMP_IOCTL_NOTIF_SET_FLAGS;

struct spy_notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    int32_t nr;
    uint32_t arch;
    uint64_t ip;
    uint64_t args[6];
};
struct spy_notif_sizes { uint16_t notif; uint16_t resp; uint16_t data; };

/* The kernel's structure sizes, asked once.  The buffers below are at least
 * this big (and at least our sizeof), zeroed before each use. */
#define SPY_NOTIF_BUF 1024
static int spy_sizes_state;           /* 0 unknown, 1 known, <0 -errno */
static struct seccomp_notif_sizes spy_sizes;

static int spy_get_sizes(void)
{
    struct seccomp_notif_sizes s;
    if (spy_sizes_state != 0)
        return spy_sizes_state;
    memset(&s, 0, sizeof(s));
    if (spy_raw_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &s) != 0)
        return -errno;   /* not cached: a later call may succeed */
    spy_sizes = s;
    __atomic_store_n(&spy_sizes_state, 1, __ATOMIC_RELEASE);
    return 1;
}

int spy_notif_sizes(struct spy_notif_sizes *out)
{
    int rc = spy_get_sizes();
    if (rc < 0)
        return rc;
    out->notif = spy_sizes.seccomp_notif;
    out->resp = spy_sizes.seccomp_notif_resp;
    out->data = spy_sizes.seccomp_data;
    return 0;
}

static size_t spy_max(size_t a, size_t b) { return a > b ? a : b; }

/* Wait until the listener is readable.  1 = a notification is waiting,
 * 0 = timeout, -EPIPE = hang-up (no task uses the filter any more),
 * -EBADF = not an open fd, -EINTR = interrupted by a signal. */
int spy_notify_poll(int fd, int timeout_ms)
{
    struct pollfd p;
    int rc;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    rc = poll(&p, 1, timeout_ms);
    if (rc < 0)
        return -errno;
    if (rc == 0)
        return 0;
    if (p.revents & POLLNVAL)
        return -EBADF;
    if (p.revents & POLLIN)
        return 1;
    if (p.revents & (POLLHUP | POLLERR))
        return -EPIPE;
    return 0;
}

/* A zeroed buffer of `size` bytes: `stack` when it is big enough, else
 * calloc'd (the caller frees it when it is not `stack`).  NULL on ENOMEM.
 * The kernel wants receive and response buffers zeroed, sized as it says. */
static unsigned char *spy_zeroed(unsigned char *stack, size_t stack_size, size_t size)
{
    if (size > stack_size)
        return calloc(1, size);
    memset(stack, 0, size);
    return stack;
}

/* SECCOMP_IOCTL_NOTIF_RECV into a zeroed buffer of the kernel's size, then
 * copy the fields out.  0 or -errno (ENOENT: the target went away). */
int spy_notify_recv(int fd, struct spy_notif *out)
{
    unsigned char stackbuf[SPY_NOTIF_BUF] __attribute__((aligned(16)));
    unsigned char *buf = stackbuf;
    struct seccomp_notif *req;
    size_t size;
    int rc = spy_get_sizes();

    if (rc < 0)
        return rc;
    size = spy_max(spy_sizes.seccomp_notif, sizeof(struct seccomp_notif));
    buf = spy_zeroed(stackbuf, sizeof(stackbuf), size);
    if (buf == NULL)
        return -ENOMEM;
    req = (struct seccomp_notif *)buf;
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) {
        rc = -errno;
    } else {
        out->id = req->id;
        out->pid = req->pid;
        out->flags = req->flags;
        out->nr = req->data.nr;
        out->arch = req->data.arch;
        out->ip = req->data.instruction_pointer;
        memcpy(out->args, req->data.args, sizeof(out->args));
        rc = 0;
    }
    if (buf != stackbuf)
        free(buf);
    return rc;
}

static int spy_ms_left(const struct timespec *deadline, int timeout_ms)
{
    struct timespec now;
    long long ms;
    if (timeout_ms < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000
         + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

/* Wait for the listener (and an optional stop fd, -1 for none), then
 * receive; retry on ENOENT (the notification went away between poll and
 * receive) until the timeout.  SPY_NOTIFY_RECEIVED = *out filled,
 * SPY_NOTIFY_TIMEOUT, SPY_NOTIFY_STOPPED = the stop fd is readable,
 * -EPIPE = hang-up, -EINTR = a signal (return to Python so that its
 * handlers run), other -errno. */
int spy_notify_wait_recv(int fd, int stopfd, int timeout_ms, struct spy_notif *out)
{
    struct timespec deadline;
    struct pollfd p[2];
    int rc, left = timeout_ms;
    nfds_t n = stopfd >= 0 ? 2 : 1;

    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    for (;;) {
        p[0].fd = fd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = stopfd;
        p[1].events = POLLIN;
        p[1].revents = 0;
        rc = poll(p, n, left);
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return SPY_NOTIFY_TIMEOUT;
        if (n == 2 && p[1].revents)
            return SPY_NOTIFY_STOPPED;
        if (p[0].revents & POLLNVAL)
            return -EBADF;
        if (!(p[0].revents & POLLIN))
            return (p[0].revents & (POLLHUP | POLLERR)) ? -EPIPE : SPY_NOTIFY_TIMEOUT;
        rc = spy_notify_recv(fd, out);
        if (rc == 0)
            return SPY_NOTIFY_RECEIVED;
        if (rc != -ENOENT)
            return rc;
        left = spy_ms_left(&deadline, timeout_ms);
        if (timeout_ms >= 0 && left == 0)
            return SPY_NOTIFY_TIMEOUT;
    }
}

/* SECCOMP_IOCTL_NOTIF_SEND with a zeroed response of the kernel's size. */
int spy_notify_send(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags)
{
    unsigned char stackbuf[SPY_NOTIF_BUF] __attribute__((aligned(16)));
    unsigned char *buf = stackbuf;
    struct seccomp_notif_resp *resp;
    size_t size;
    int rc = spy_get_sizes();

    if (rc < 0)
        return rc;
    size = spy_max(spy_sizes.seccomp_notif_resp, sizeof(struct seccomp_notif_resp));
    buf = spy_zeroed(stackbuf, sizeof(stackbuf), size);
    if (buf == NULL)
        return -ENOMEM;
    resp = (struct seccomp_notif_resp *)buf;
    resp->id = id;
    resp->val = val;
    resp->error = error;
    resp->flags = flags;
    do {
        rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
    } while (rc != 0 && errno == EINTR);
    rc = rc == 0 ? 0 : -errno;
    if (buf != stackbuf)
        free(buf);
    return rc;
}

int spy_notify_id_valid(int fd, uint64_t id)
{
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 ? 0 : -errno;
}

/* SECCOMP_IOCTL_NOTIF_ADDFD: the fd number in the target, or -errno. */
int spy_notify_addfd(int fd, uint64_t id, int srcfd, int newfd, uint32_t newfd_flags,
                     uint32_t flags)
{
    struct seccomp_notif_addfd a;
    int rc;
    memset(&a, 0, sizeof(a));
    a.id = id;
    a.flags = flags;
    a.srcfd = (uint32_t)srcfd;
    a.newfd = (uint32_t)newfd;
    a.newfd_flags = newfd_flags;
    rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    return rc < 0 ? -errno : rc;
}

int spy_notify_set_flags(int fd, uint64_t flags)
{
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0 ? 0 : -errno;
}

/* A seccomp listener answers ID_VALID for an id it never issued with ENOENT;
 * any other fd fails with ENOTTY / EINVAL / EBADF.  0 = listener. */
int spy_notify_is_listener(int fd)
{
    uint64_t id = 0;
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0)
        return 0;
    if (errno == ENOENT)
        return 0;
    return errno == EBADF ? -EBADF : -ENOTTY;
}

/* Receive and answer CONTINUE, all in C, until hang-up, timeout or `max`
 * round trips.  *count gets the number answered.  0 = hang-up / max / timeout,
 * else -errno.  For benchmarks and the learn mode; never a security decision. */
int spy_notify_continue_loop(int fd, int timeout_ms, uint64_t max, uint64_t *count)
{
    struct spy_notif n;
    int rc;
    *count = 0;
    while (max == 0 || *count < max) {
        rc = spy_notify_wait_recv(fd, -1, timeout_ms, &n);
        if (rc == SPY_NOTIFY_TIMEOUT || rc == -EPIPE)
            return 0;
        if (rc == -EINTR)
            continue;
        if (rc < 0)
            return rc;
        rc = spy_notify_send(fd, n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        if (rc == 0)
            (*count)++;
    }
    return 0;
}

/* libseccomp's process-wide notify fd (seccomp_notify_fd(3)). */
int spy_notify_fd(const scmp_filter_ctx ctx)
{
    return seccomp_notify_fd(ctx);
}

/* Build a one-fd SCM_RIGHTS message in caller storage. */
union spy_cmsg {
    struct cmsghdr hdr;
    char buf[CMSG_SPACE(sizeof(int))];
};

static void spy_build_msg(struct msghdr *msg, struct iovec *iov, union spy_cmsg *cm,
                          int fd, const void *payload, size_t len)
{
    static const char zero = 0;
    struct cmsghdr *c;
    memset(msg, 0, sizeof(*msg));
    memset(cm, 0, sizeof(*cm));
    /* A zero-length payload still carries one byte: stream sockets drop
     * ancillary data sent without data. */
    iov->iov_base = (void *)(len ? payload : &zero);
    iov->iov_len = len ? len : 1;
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    msg->msg_control = cm->buf;
    msg->msg_controllen = sizeof(cm->buf);
    c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
}

static int spy_sendmsg_all(int sock, struct msghdr *msg)
{
    ssize_t n;
    do {
        n = sendmsg(sock, msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n != msg->msg_iov[0].iov_len)
        return -EMSGSIZE;   /* a short send: the monitor refuses partial payloads */
    return 0;
}

int spy_send_fd(int sock, int fd, const void *payload, size_t payload_len)
{
    struct msghdr msg;
    struct iovec iov;
    union spy_cmsg cm;
    spy_build_msg(&msg, &iov, &cm, fd, payload, payload_len);
    return spy_sendmsg_all(sock, &msg);
}

/* The two-layer handoff (docs/notify.md, "How the handoff stays inside the
 * policy"), in one call:
 *
 *   layer 1 = a short prologue + the user's program, installed with
 *             SECCOMP_FILTER_FLAG_NEW_LISTENER.  The prologue allows, on the
 *             native arch only, sendmsg(sock, ...), close(listener),
 *             close(sock) and seccomp(SECCOMP_SET_MODE_FILTER, flags2, ...);
 *             everything else falls through to the user's program.
 *   then      sendmsg of the listener, close(listener), close(sock),
 *   layer 2 = the user's program with NOTIFY answered ALLOW (or, when the
 *             listener could not be handed over, ENOSYS), installed at once.
 *
 * The kernel runs every filter and keeps the most restrictive action, so
 * once layer 2 is in force every call gets exactly the user's decision and
 * the prologue's exemptions are dead.  Everything is built before layer 1;
 * between the two installs this makes only sendmsg(2), close(2) and
 * seccomp(2), and allocates nothing.
 *
 * `bpf1` is writable: instruction `fd_insn` (its k) gets the number the
 * listener will take (the lowest free fd, asked just before installing); if
 * another thread takes that number first, the listener is NOT sent (it could
 * not be closed) and layer 2 is the ENOSYS one.
 *
 * *stage: 0 nothing installed, 1 layer 1 in force, 2 listener sent,
 * *sealed: 0 no layer 2, 1 layer 2 (NOTIFY = ALLOW), 2 layer 2 (NOTIFY = ENOSYS).
 * If layer 2 cannot be installed the process exits (status 127): the
 * exemptions must not outlive the handoff.  Returns 0 or -errno. */
int spy_install_and_send(void *bpf1, size_t len1, const void *bpf2, const void *bpf2_fail,
                         size_t len2, int fd_insn, unsigned int flags, unsigned int flags2,
                         int nnp, int sock, const void *payload, size_t payload_len,
                         int *stage, int *sealed)
{
    struct sock_fprog prog1, prog2, prog2_fail;
    struct sock_filter *insns = (struct sock_filter *)bpf1;
    struct msghdr msg;
    struct iovec iov;
    union spy_cmsg cm;
    struct cmsghdr *c;
    long fd;
    int rc, want;

    *stage = 0;
    *sealed = 0;
    if (len1 == 0 || len1 % sizeof(struct sock_filter) != 0
        || len1 / sizeof(struct sock_filter) > BPF_MAXINSNS
        || len2 == 0 || len2 % sizeof(struct sock_filter) != 0
        || len2 / sizeof(struct sock_filter) > BPF_MAXINSNS
        || fd_insn < 0 || (size_t)fd_insn >= len1 / sizeof(struct sock_filter))
        return -EINVAL;
    prog1.len = (unsigned short)(len1 / sizeof(struct sock_filter));
    prog1.filter = insns;
    prog2.len = prog2_fail.len = (unsigned short)(len2 / sizeof(struct sock_filter));
    prog2.filter = (struct sock_filter *)bpf2;
    prog2_fail.filter = (struct sock_filter *)bpf2_fail;
    spy_build_msg(&msg, &iov, &cm, -1, payload, payload_len);
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    /* The number the listener will get: the lowest free fd. */
    want = fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (want < 0)
        return -errno;
    close(want);
    insns[fd_insn].k = (uint32_t)want;
    fd = spy_load_program(prog1.filter, prog1.len, flags | SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
    if (fd < 0)
        return (int)fd;
    /* --- layer 1 is in force: sendmsg, close and seccomp only from here --- */
    *stage = 1;
    if (fd != want) {
        rc = -EADDRINUSE;   /* another thread took the number: keep the fd unsent */
    } else {
        c = CMSG_FIRSTHDR(&msg);
        memcpy(CMSG_DATA(c), &(int){(int)fd}, sizeof(int));
        rc = spy_sendmsg_all(sock, &msg);
        close((int)fd);
        if (rc == 0)
            *stage = 2;
    }
    close(sock);
    if (spy_load_program(rc == 0 ? prog2.filter : prog2_fail.filter, prog2.len, flags2, 0) != 0)
        syscall(SYS_exit_group, 127);   /* never run on with the exemptions live */
    *sealed = rc == 0 ? 1 : 2;
    return rc;
}

/* Answer one notification, then wait for and receive the next one: one call
 * per round trip for the supervisor loop.  *send_rc gets the answer's
 * result (0 or -errno; ENOENT = the target went away); the return value is
 * that of spy_notify_wait_recv. */
int spy_notify_respond_recv(int fd, uint64_t id, int64_t val, int32_t error, uint32_t flags,
                            int *send_rc, int stopfd, int timeout_ms, struct spy_notif *out)
{
    *send_rc = spy_notify_send(fd, id, val, error, flags);
    return spy_notify_wait_recv(fd, stopfd, timeout_ms, out);
}

/* A fixed answer for one syscall number on one arch, applied in C. */
struct spy_rule {
    int32_t nr;
    uint32_t arch;
    int64_t val;
    int32_t error;
    uint32_t flags;
};

/* The supervisor loop's one C call per Python handler call:
 *   1. if has_resp, answer notification `id` (result in *send_rc),
 *   2. wait for and receive notifications; those matching `rules` are
 *      answered here without returning to Python (counted in *answered),
 *   3. return SPY_NOTIFY_RECEIVED with the first other notification in
 *      *out, or what spy_notify_wait_recv returned otherwise.
 * An answer in step 2 that fails with ENOENT (target gone) is not an error. */
int spy_notify_serve_step(int fd, int has_resp, uint64_t id, int64_t val, int32_t error,
                          uint32_t flags, int *send_rc, const struct spy_rule *rules,
                          int nrules, uint64_t *answered, int stopfd, int timeout_ms,
                          struct spy_notif *out)
{
    int rc, i;
    *send_rc = has_resp ? spy_notify_send(fd, id, val, error, flags) : 0;
    for (;;) {
        rc = spy_notify_wait_recv(fd, stopfd, timeout_ms, out);
        if (rc != SPY_NOTIFY_RECEIVED)
            return rc;
        for (i = 0; i < nrules; i++)
            if (rules[i].nr == out->nr && rules[i].arch == out->arch)
                break;
        if (i == nrules)
            return SPY_NOTIFY_RECEIVED;
        rc = spy_notify_send(fd, out->id, rules[i].val, rules[i].error, rules[i].flags);
        if (rc < 0 && rc != -ENOENT)
            return rc;
        (*answered)++;
    }
}

/* Loop state for the Python supervisor, allocated once: each round trip is
 * then spy_notify_loop_step(loop, answer) -- two pointer arguments. */
struct spy_answer {
    int64_t val;
    int32_t error;
    uint32_t flags;
};
struct spy_loop {
    int fd;
    int stopfd;
    int timeout_ms;
    int nrules;
    const struct spy_rule *rules;
    uint64_t answered;
    uint64_t handed;
    int send_rc;
    struct spy_notif notif;
};

/* SECCOMP_IOCTL_NOTIF_SEND of a prepared answer (Response._c): 0 or -errno. */
int spy_notify_answer(int fd, uint64_t id, const struct spy_answer *answer)
{
    return spy_notify_send(fd, id, answer->val, answer->error, answer->flags);
}

/* A Listener's state shared with C (notify/listener.py).  receive() registers
 * in `receivers` instead of taking a lock: spy_listener_close() marks the fd
 * closed, then counts the receivers, and each receiver counts itself, then
 * reads the fd (both sequentially consistent), so either close() sees the
 * receiver (and wakes it through `stopfd`, then waits for it to leave) or
 * the receiver sees the fd closed.  respond() remembers the ids it answered
 * (the last SPY_ANSWERED_RING) to tell "already answered" from "gone". */
#define SPY_ANSWERED_RING 256
struct spy_listener {
    int fd;
    int stopfd;
    int receivers;
    unsigned int answered_at;
    uint64_t answered[SPY_ANSWERED_RING];
    struct spy_notif notif;
};

/* Wait for and receive a notification into l->notif, as spy_notify_wait_recv;
 * -EBADF when the listener is closed. */
int spy_listener_recv(struct spy_listener *l, int timeout_ms)
{
    int fd, rc;
    __atomic_add_fetch(&l->receivers, 1, __ATOMIC_SEQ_CST);
    fd = __atomic_load_n(&l->fd, __ATOMIC_SEQ_CST);
    rc = fd < 0 ? -EBADF : spy_notify_wait_recv(fd, l->stopfd, timeout_ms, &l->notif);
    __atomic_sub_fetch(&l->receivers, 1, __ATOMIC_SEQ_CST);
    return rc;
}

/* Mark the listener closed; returns how many threads are in spy_listener_recv. */
int spy_listener_close(struct spy_listener *l)
{
    __atomic_store_n(&l->fd, -1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&l->receivers, __ATOMIC_SEQ_CST);
}

void spy_listener_mark(struct spy_listener *l, uint64_t id)
{
    unsigned int at = __atomic_fetch_add(&l->answered_at, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&l->answered[at % SPY_ANSWERED_RING], id, __ATOMIC_RELEASE);
}

/* 1 when `id` is among the last SPY_ANSWERED_RING ids answered, else 0. */
int spy_listener_answered(struct spy_listener *l, uint64_t id)
{
    unsigned int n = __atomic_load_n(&l->answered_at, __ATOMIC_ACQUIRE), i;
    if (n > SPY_ANSWERED_RING)
        n = SPY_ANSWERED_RING;
    for (i = 0; i < n; i++)
        if (__atomic_load_n(&l->answered[i], __ATOMIC_ACQUIRE) == id)
            return 1;
    return 0;
}

/* Answer `id` (SECCOMP_IOCTL_NOTIF_SEND) and remember it: 0, -EBADF when the
 * listener is closed, or -errno. */
int spy_listener_answer(struct spy_listener *l, uint64_t id, const struct spy_answer *answer)
{
    int fd = __atomic_load_n(&l->fd, __ATOMIC_SEQ_CST), rc;
    if (fd < 0)
        return -EBADF;
    rc = spy_notify_send(fd, id, answer->val, answer->error, answer->flags);
    if (rc == 0)
        spy_listener_mark(l, id);
    return rc;
}

/* Answer loop->notif (when `answer` is not NULL), then as
 * spy_notify_serve_step: static rules answered here, the next other
 * notification left in loop->notif (SPY_NOTIFY_RECEIVED, counted in
 * loop->handed).  Returns
 * SPY_NOTIFY_SEND_FAILED at once, with loop->send_rc set, when the answer
 * failed other than with ENOENT. */
int spy_notify_loop_step(struct spy_loop *l, const struct spy_answer *answer)
{
    int rc;
    l->send_rc = 0;
    if (answer != NULL) {
        l->send_rc = spy_notify_send(l->fd, l->notif.id, answer->val, answer->error,
                                     answer->flags);
        if (l->send_rc < 0 && l->send_rc != -ENOENT)
            return SPY_NOTIFY_SEND_FAILED;   /* let Python report it (notif kept) */
    }
    rc = spy_notify_serve_step(l->fd, 0, 0, 0, 0, 0, &l->send_rc, l->rules, l->nrules,
                               &l->answered, l->stopfd, l->timeout_ms, &l->notif);
    if (rc == SPY_NOTIFY_RECEIVED)
        l->handed++;
    return rc;
}
