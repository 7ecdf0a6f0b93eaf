/* Baseline supervisor, plain libseccomp: receive the listener fd from the
 * socket given as argv[1], then answer every notification with CONTINUE
 * (seccomp_notify_receive / seccomp_notify_respond) until the target exits.
 * argv[2] == "sync" asks for synchronous wake-up (Linux 6.6+) first. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/seccomp.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } cm;
    struct msghdr msg;
    struct cmsghdr *c;
    int fd;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cm.buf;
    msg.msg_controllen = sizeof(cm.buf);
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0)
        return -1;
    c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS)
        return -1;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

int main(int argc, char **argv)
{
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
    long count = 0;
    int fd, rc;
    struct pollfd p;

    if (argc < 2)
        return 2;
    fd = recv_fd(atoi(argv[1]));
    if (fd < 0)
        return 3;
    if (argc > 2 && strcmp(argv[2], "sync") == 0)
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1UL);
    if (seccomp_notify_alloc(&req, &resp) < 0)
        return 4;
    p.fd = fd;
    p.events = POLLIN;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (;;) {
        /* poll first, as seccomp_unotify(2) advises: a receive after the
         * target exited could block forever */
        rc = poll(&p, 1, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || !(p.revents & POLLIN))
            break;   /* POLLHUP: the target is gone */
        memset(req, 0, sizeof(*req));
        rc = seccomp_notify_receive(fd, req);
        if (rc == -ENOENT || rc == -EINTR)
            continue;
        if (rc < 0)
            break;
        memset(resp, 0, sizeof(*resp));
        resp->id = req->id;
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        rc = seccomp_notify_respond(fd, resp);
        if (rc < 0 && rc != -ENOENT)
            break;
        count++;
    }
    getrusage(RUSAGE_SELF, &r1);
    printf("%ld %.9f\n", count,
           (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
           + ((r1.ru_utime.tv_usec - r0.ru_utime.tv_usec)
              + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / 1e6);
    seccomp_notify_free(req, resp);
    fprintf(stderr, "c supervisor: %ld answered\n", count);
    return 0;
}
