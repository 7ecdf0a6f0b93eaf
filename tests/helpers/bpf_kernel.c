/* Load classic-BPF seccomp programs in children and report what the kernel did.
 *
 * stdin: records of {uint32 n; uint32 nr; uint64 args[6]; struct sock_filter prog[n]}.
 * For each record a child loads the program (no_new_privs, seccomp(2)
 * SECCOMP_SET_MODE_FILTER) and makes syscall(nr, args...); stdout gets one
 * line per record:
 *   "refused <errno>"   the kernel refused the program,
 *   "ret <r> <errno>"   the syscall returned r (errno when r == -1),
 *   "signal <s>"        the child died of signal s.
 * The programs must let write(2) and exit_group(2) through (tests prefix a
 * guard that allows every syscall but nr). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

static int read_all(void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t r = read(0, p, len);
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int main(void)
{
    static struct sock_filter prog[4096];
    struct { uint32_t n, nr; uint64_t args[6]; } head;
    while (read_all(&head, sizeof head) == 0) {
        int fds[2], status;
        long out[2] = {0, 0};
        pid_t pid;
        if (head.n == 0 || head.n > 4096 || read_all(prog, head.n * sizeof prog[0]) < 0)
            return 2;
        if (pipe(fds) < 0)
            return 3;
        pid = fork();
        if (pid < 0)
            return 4;
        if (pid == 0) {
            struct sock_fprog fp = { (unsigned short)head.n, prog };
            long r;
            close(fds[0]);
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(5);
            if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
                out[0] = 1;
                out[1] = errno;
                (void)!write(fds[1], out, sizeof out);
                _exit(0);
            }
            errno = 0;
            r = syscall(head.nr, head.args[0], head.args[1], head.args[2],
                        head.args[3], head.args[4], head.args[5]);
            out[0] = r == -1 ? -1 : 2;
            out[1] = r == -1 ? errno : r;
            (void)!write(fds[1], out, sizeof out);
            _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], out, sizeof out) != sizeof out)
            out[0] = 99;
        close(fds[0]);
        if (waitpid(pid, &status, 0) < 0)
            return 6;
        if (WIFSIGNALED(status))
            printf("signal %d\n", WTERMSIG(status));
        else if (out[0] == 1)
            printf("refused %ld\n", out[1]);
        else if (out[0] == -1)
            printf("ret -1 %ld\n", out[1]);
        else if (out[0] == 2)
            printf("ret %ld 0\n", out[1]);
        else
            printf("lost %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        fflush(stdout);
    }
    return 0;
}
