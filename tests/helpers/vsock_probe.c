/* Test helper for issue 15 (socketcall reporting): load the raw BPF program
 * in FILE (seccomp(2), after no_new_privs) and try socket(AF_VSOCK) three
 * ways: x86_64 socket, i386 socket (359) and i386 socketcall (102,
 * SYS_SOCKET).  Prints "native=R i386=R socketcall=R" (R: "ok" or -errno).
 * Needs write and exit_group.  x86_64 only. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

#if defined(__x86_64__)
static long int80_3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

static const char *verdict(long ret, char *buf, size_t len)
{
    if (ret >= 0)
        return "ok";
    snprintf(buf, len, "%ld", ret);
    return buf;
}

int main(int argc, char **argv)
{
    static unsigned char prog_buf[65536];
    char b1[32], b2[32], b3[32];
    struct sock_fprog prog;
    FILE *fh;
    size_t n;
    unsigned int *args;
    long native, direct, multiplexed;

    if (argc != 2) {
        fprintf(stderr, "usage: vsock_probe FILE.bpf\n");
        return 64;
    }
    fh = fopen(argv[1], "rb");
    if (fh == NULL) {
        perror(argv[1]);
        return 2;
    }
    n = fread(prog_buf, 1, sizeof prog_buf, fh);
    fclose(fh);
    /* socketcall takes a pointer to its arguments: it must fit in 32 bits */
    args = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                -1, 0);
    if (args == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    prog.len = (unsigned short)(n / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)prog_buf;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp");
        return 2;
    }
    native = syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
    native = native < 0 ? -(long)errno : native;
    direct = int80_3(359, AF_VSOCK, SOCK_STREAM, 0);
    args[0] = AF_VSOCK; args[1] = SOCK_STREAM; args[2] = 0;
    multiplexed = int80_3(102, 1 /* SYS_SOCKET */, (long)(unsigned long)args, 0);
    printf("native=%s i386=%s socketcall=%s\n", verdict(native, b1, sizeof b1),
           verdict(direct, b2, sizeof b2), verdict(multiplexed, b3, sizeof b3));
    return 0;
}
#else
int main(void)
{
    printf("unsupported\n");
    return 3;
}
#endif
