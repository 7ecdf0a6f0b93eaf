/* Benchmark target: install a libseccomp filter that sends getppid(2) to a
 * listener, hand the listener to the supervisor over the socket given as
 * argv[1] (SCM_RIGHTS), then time argv[2] getppid calls and print
 * "<calls> <seconds>". */
#define _GNU_SOURCE
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int send_fd(int sock, int fd)
{
    char byte = 'L';
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } cm;
    struct msghdr msg;
    struct cmsghdr *c;
    memset(&msg, 0, sizeof(msg));
    memset(&cm, 0, sizeof(cm));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cm.buf;
    msg.msg_controllen = sizeof(cm.buf);
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int sock, fd, rc;
    long i, n;
    struct timespec a, b;
    scmp_filter_ctx ctx;

    if (argc != 3)
        return 2;
    sock = atoi(argv[1]);
    n = atol(argv[2]);
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return 3;
    if (seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(getppid), 0) < 0)
        return 4;
    rc = seccomp_load(ctx);
    if (rc < 0) {
        fprintf(stderr, "seccomp_load: %s\n", strerror(-rc));
        return 5;
    }
    fd = seccomp_notify_fd(ctx);
    if (fd < 0 || send_fd(sock, fd) < 0)
        return 6;
    close(fd);
    close(sock);
    /* warm-up: the supervisor may still be starting (Python imports); then
     * let the scheduler forget its start-up burst before timing */
    for (i = 0; i < 2000; i++)
        syscall(SYS_getppid);
    usleep(100000);
    for (i = 0; i < 2000; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < n; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%ld %.9f\n", n, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    seccomp_release(ctx);
    return 0;
}
