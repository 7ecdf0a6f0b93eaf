/* A static probe for comparing seccomp outcomes under runc and under
 * `seccomp-py run`: makes each syscall with arguments that fail harmlessly
 * when the call is allowed (EFAULT, EBADF, EINVAL...) and prints
 * "name=errno" (0 for success).  Only the seccomp decision should differ
 * between policies, not the environment. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <linux/sched.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static void probe(const char *name, long nr, long a, long b, long c, long d)
{
    long rc;
    errno = 0;
    rc = syscall(nr, a, b, c, d, 0L, 0L);
    printf("%s=%d\n", name, rc < 0 ? errno : 0);
    if (rc >= 0 && strncmp(name, "socket", 6) == 0)
        close((int)rc);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    probe("getpid", SYS_getpid, 0, 0, 0, 0);
    probe("personality_query", SYS_personality, 0xffffffffL, 0, 0, 0);
    probe("personality_linux", SYS_personality, 0, 0, 0, 0);
    probe("personality_other", SYS_personality, 0x0400000, 0, 0, 0);
    probe("socket_inet", SYS_socket, AF_INET, SOCK_DGRAM, 0, 0);
    probe("socket_vsock", SYS_socket, AF_VSOCK, SOCK_STREAM, 0, 0);
    probe("clone3", SYS_clone3, 0, 0, 0, 0);
    probe("unshare_user", SYS_unshare, 0x10000000L, 0, 0, 0);
    probe("mount", SYS_mount, 0, 0, 0, 0);
    probe("umount2", SYS_umount2, 0, 0, 0, 0);
    probe("keyctl", SYS_keyctl, -1, 0, 0, 0);
    probe("add_key", SYS_add_key, 0, 0, 0, 0);
    probe("bpf", SYS_bpf, -1, 0, 0, 0);
    probe("acct", SYS_acct, 1, 0, 0, 0);
    probe("reboot", SYS_reboot, 0, 0, 0, 0);
    probe("swapon", SYS_swapon, 0, 0, 0, 0);
    probe("init_module", SYS_init_module, 0, 0, 0, 0);
    probe("perf_event_open", SYS_perf_event_open, 0, 0, 0, 0);
    probe("userfaultfd", SYS_userfaultfd, -1, 0, 0, 0);
    probe("open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0, 0);
    probe("settimeofday", SYS_settimeofday, 1, 0, 0, 0);
    probe("pivot_root", SYS_pivot_root, 0, 0, 0, 0);
    probe("chroot_efault", SYS_chroot, 1, 0, 0, 0);
    probe("mkdir_efault", SYS_mkdir, 1, 0, 0, 0);
    probe("close_badfd", SYS_close, -1, 0, 0, 0);
    probe("nr_1000", 1000, 0, 0, 0, 0);
    probe("nr_600", 600, 0, 0, 0, 0);
    return 0;
}
