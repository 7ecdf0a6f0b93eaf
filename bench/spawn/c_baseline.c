/* C baseline for bench_spawn.py: spawn /bin/true N times with vfork + execve,
 * either plain or loading a BPF program (file argv[2]) in the child first
 * (prctl(PR_SET_NO_NEW_PRIVS) + seccomp(SECCOMP_SET_MODE_FILTER)), exactly
 * what seccomp_py's shim does.  Prints the mean microseconds per spawn.
 * Usage: c_baseline N [filter.bpf] */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

extern char **environ;

int main(int argc, char **argv)
{
    static char buf[1 << 16];
    struct sock_fprog prog = {0, (struct sock_filter *)buf};
    char *args[] = {"/bin/true", NULL};
    struct timespec t0, t1;
    int i, n = argc > 1 ? atoi(argv[1]) : 100;

    if (argc > 2) {
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL) { perror(argv[2]); return 1; }
        prog.len = (unsigned short)(fread(buf, 1, sizeof buf, f) / 8);
        fclose(f);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        int status;
        pid_t pid = vfork();
        if (pid == 0) {
            if (prog.len && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                             syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0))
                _exit(126);
            execve(args[0], args, environ);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
            fprintf(stderr, "spawn failed\n");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n);
    return 0;
}
