/* C baseline for bench_learn.py: a learn-mode supervisor written directly
 * against libseccomp, doing the same recording as seccomp-py learn.
 *
 *   c_supervisor [--no-sync] CMD ARGS...
 *
 * The child builds a filter with libseccomp whose default action is NOTIFY
 * (seccomp_init(SCMP_ACT_NOTIFY), every arch libseccomp adds by default),
 * loads it (seccomp_load), publishes the listener fd number in a shared page
 * and execs CMD.  The parent takes the listener with pidfd_getfd(2), then
 * loops: poll(listener, pidfd) -> seccomp_notify_receive -> count
 * (arch, nr) -> seccomp_notify_respond(CONTINUE), until the listener hangs
 * up.  It prints "calls=N distinct=M status=S" on stderr and exits 0.
 * (The same structure as seccomp_py's learn shim, with libseccomp's own
 * notify API instead of raw ioctls.) */
#define _GNU_SOURCE 1
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

struct shared { volatile int state; volatile int fd; };

static uint64_t counts[4][2048];
static uint32_t arches[4];

static void record(uint32_t arch, int nr)
{
    int slot;
    for (slot = 0; slot < 4; slot++) {
        if (arches[slot] == arch)
            break;
        if (arches[slot] == 0) {
            arches[slot] = arch;
            break;
        }
    }
    if (slot == 4)
        return;
    if (nr >= 0 && nr < 1024)
        counts[slot][nr]++;
    else if ((nr & 0x40000000) && (nr & ~0x40000000) < 1024)
        counts[slot][1024 + (nr & ~0x40000000)]++;
}

int main(int argc, char **argv)
{
    int sync = 1, first = 1, status = 0, listener, pidfd;
    struct shared *sh;
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
    unsigned long long calls = 0, distinct = 0;
    pid_t pid;
    int reaped = 0;

    if (argc > 1 && strcmp(argv[1], "--no-sync") == 0) {
        sync = 0;
        first = 2;
    }
    if (argc <= first) {
        fprintf(stderr, "usage: c_supervisor [--no-sync] CMD ARGS...\n");
        return 2;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    pid = fork();
    if (pid == 0) {
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_NOTIFY);
        if (ctx == NULL || seccomp_load(ctx) != 0)
            _exit(126);
        sh->fd = seccomp_notify_fd(ctx);
        __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
        execvp(argv[first], argv + first);
        _exit(127);
    }
    while (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE) == 0) {
        struct timespec ts = {0, 20000};
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "child failed: %d\n", status);
            return 1;
        }
        nanosleep(&ts, NULL);
    }
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    listener = (int)syscall(SYS_pidfd_getfd, pidfd, sh->fd, 0);
    if (pidfd < 0 || listener < 0) {
        perror("pidfd");
        kill(pid, SIGKILL);
        return 1;
    }
    if (sync) {
        __u64 flags = 1;   /* SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP */
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags);
    }
    if (seccomp_notify_alloc(&req, &resp) != 0)
        return 1;
    for (;;) {
        struct pollfd p[2] = {{listener, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int n = poll(p, reaped ? 1 : 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        if (p[0].revents & POLLIN) {
            int rc;
            memset(req, 0, sizeof *req);   /* the kernel refuses a dirty buffer */
            rc = seccomp_notify_receive(listener, req);
            if (rc == -ENOENT || rc == -EINTR)
                continue;   /* the target went away, or a signal */
            if (rc != 0) {
                fprintf(stderr, "seccomp_notify_receive: %s\n", strerror(-rc));
                kill(pid, SIGKILL);
                return 1;
            }
            record(req->data.arch, req->data.nr);
            calls++;
            resp->id = req->id;
            resp->val = 0;
            resp->error = 0;
            resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            seccomp_notify_respond(listener, resp);
            continue;
        }
        if (p[0].revents & (POLLHUP | POLLERR))
            break;
        if (!reaped && (p[1].revents & POLLIN)) {
            waitpid(pid, &status, 0);
            reaped = 1;
        }
    }
    if (!reaped)
        waitpid(pid, &status, 0);
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 2048; i++)
            distinct += counts[s][i] != 0;
    seccomp_notify_free(req, resp);
    fprintf(stderr, "calls=%llu distinct=%llu status=%d\n", calls, distinct, status);
    return 0;
}
