/* Test helper for seccomp_py's core tests, exec'd by a forked child after it
 * loaded a filter (the filter survives execve).  Prints one line to stdout.
 *
 *   probe trap NR        call syscall NR with a SIGSYS handler installed;
 *                        print "nr=N arch=HEX code=N errno=N" as the handler saw it
 *   probe int80 NR [A]   make i386 syscall NR through `int $0x80` (x86_64 only);
 *                        print "ret=N" (the raw return value, -errno on failure)
 *   probe x32 NR         make x32 syscall NR (bit 30 set, x86_64 only); print "ret=N"
 *   probe arches         print "NAME VALUE" for every SCMP_ARCH_* seccomp.h defines
 *   probe sockets FILE   load the raw BPF program in FILE (seccomp(2), after
 *                        no_new_privs) and try socket(AF_INET) four ways:
 *                        x86_64 socket, i386 socket (359), i386 socketcall
 *                        (102, SYS_SOCKET) with AF_INET and with AF_UNIX;
 *                        print "native=R i386=R socketcall=R socketcall_unix=R"
 *                        (R: "ok" or -errno).  Needs write and exit_group.
 *   probe vsock FILE     the same with socket(AF_VSOCK) and without the AF_UNIX
 *                        socketcall; print "native=R i386=R socketcall=R".
 *   probe net            under the filters already loaded: socket(AF_INET) and
 *                        socket(AF_UNIX) natively, through i386 socket (359) and
 *                        socketcall (102), and socketpair(AF_UNIX) natively;
 *                        print "native=R native_unix=R i386=R i386_unix=R
 *                        socketcall=R socketcall_unix=R socketpair_unix=R".
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <seccomp.h>

static volatile sig_atomic_t seen;
static volatile int seen_nr, seen_code, seen_errno;
static volatile unsigned int seen_arch;

static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)uctx;
    seen_nr = info->si_syscall;
    seen_arch = info->si_arch;
    seen_code = info->si_code;
    seen_errno = info->si_errno;
    seen = 1;
}

static int trap(long nr)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0) {
        perror("sigaction");
        return 2;
    }
    syscall(nr, 0, 0, 0, 0, 0, 0);
    if (!seen) {
        printf("no-signal\n");
        return 0;
    }
    printf("nr=%d arch=%x code=%d errno=%d\n", seen_nr, seen_arch, seen_code, seen_errno);
    return 0;
}

static int int80(long nr, long a0)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a0) : "memory");
    printf("ret=%ld\n", ret);
    return 0;
#else
    (void)nr; (void)a0;
    printf("unsupported\n");
    return 3;
#endif
}

static int x32(long nr)
{
#if defined(__x86_64__)
    long ret = syscall(nr | 0x40000000L, 0, 0, 0, 0, 0, 0);
    printf("ret=%ld\n", ret < 0 ? -(long)errno : ret);
    return 0;
#else
    (void)nr;
    printf("unsupported\n");
    return 3;
#endif
}

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

static int sockets(const char *path, int family)
{
    static unsigned char prog_buf[65536];
    char b1[32], b2[32], b3[32], b4[32];
    struct sock_fprog prog;
    FILE *fh = fopen(path, "rb");
    size_t n;
    unsigned int *args;
    long native, direct, multiplexed, multiplexed_unix;

    if (fh == NULL) {
        perror(path);
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
    prog.len = (unsigned short)(n / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)prog_buf;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp");
        return 2;
    }
    native = syscall(SYS_socket, family, SOCK_STREAM, 0);
    native = native < 0 ? -(long)errno : native;
    direct = int80_3(359, family, SOCK_STREAM, 0);
    args[0] = (unsigned int)family; args[1] = SOCK_STREAM; args[2] = 0;
    multiplexed = int80_3(102, 1 /* SYS_SOCKET */, (long)(unsigned long)args, 0);
    printf("native=%s i386=%s socketcall=%s", verdict(native, b1, sizeof b1),
           verdict(direct, b2, sizeof b2), verdict(multiplexed, b3, sizeof b3));
    if (family == AF_INET) {
        args[0] = AF_UNIX;
        multiplexed_unix = int80_3(102, 1, (long)(unsigned long)args, 0);
        printf(" socketcall_unix=%s", verdict(multiplexed_unix, b4, sizeof b4));
    }
    printf("\n");
    return 0;
}
static int net(void)
{
    char b[7][32];
    unsigned int *args;
    long r[7];
    int sv[2];

    args = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                -1, 0);
    if (args == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    r[0] = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    r[0] = r[0] < 0 ? -(long)errno : r[0];
    r[1] = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    r[1] = r[1] < 0 ? -(long)errno : r[1];
    r[2] = int80_3(359, AF_INET, SOCK_STREAM, 0);
    r[3] = int80_3(359, AF_UNIX, SOCK_STREAM, 0);
    args[0] = AF_INET; args[1] = SOCK_STREAM; args[2] = 0;
    r[4] = int80_3(102, 1 /* SYS_SOCKET */, (long)(unsigned long)args, 0);
    args[0] = AF_UNIX;
    r[5] = int80_3(102, 1, (long)(unsigned long)args, 0);
    r[6] = syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv);
    r[6] = r[6] < 0 ? -(long)errno : r[6];
    printf("native=%s native_unix=%s i386=%s i386_unix=%s socketcall=%s socketcall_unix=%s "
           "socketpair_unix=%s\n",
           verdict(r[0], b[0], 32), verdict(r[1], b[1], 32), verdict(r[2], b[2], 32),
           verdict(r[3], b[3], 32), verdict(r[4], b[4], 32), verdict(r[5], b[5], 32),
           verdict(r[6], b[6], 32));
    return 0;
}
#else
static int net(void)
{
    printf("unsupported\n");
    return 3;
}

static int sockets(const char *path, int family)
{
    (void)path;
    (void)family;
    printf("unsupported\n");
    return 3;
}
#endif

#define ARCH(name) printf("%s %lu\n", #name, (unsigned long)(uint32_t)(SCMP_ARCH_##name))

static int arches(void)
{
    ARCH(NATIVE); ARCH(X86); ARCH(X86_64); ARCH(X32); ARCH(ARM); ARCH(AARCH64);
    ARCH(MIPS); ARCH(MIPS64); ARCH(MIPS64N32); ARCH(MIPSEL); ARCH(MIPSEL64);
    ARCH(MIPSEL64N32); ARCH(PPC); ARCH(PPC64); ARCH(PPC64LE); ARCH(S390); ARCH(S390X);
    ARCH(PARISC); ARCH(PARISC64); ARCH(RISCV64);
#ifdef SCMP_ARCH_LOONGARCH64
    ARCH(LOONGARCH64);
#endif
#ifdef SCMP_ARCH_M68K
    ARCH(M68K);
#endif
#ifdef SCMP_ARCH_SH
    ARCH(SH);
#endif
#ifdef SCMP_ARCH_SHEB
    ARCH(SHEB);
#endif
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "trap") == 0)
        return trap(strtol(argv[2], NULL, 0));
    if (argc >= 3 && strcmp(argv[1], "int80") == 0)
        return int80(strtol(argv[2], NULL, 0), argc >= 4 ? strtol(argv[3], NULL, 0) : 0);
    if (argc >= 3 && strcmp(argv[1], "x32") == 0)
        return x32(strtol(argv[2], NULL, 0));
    if (argc >= 3 && strcmp(argv[1], "sockets") == 0)
        return sockets(argv[2], AF_INET);
    if (argc >= 3 && strcmp(argv[1], "vsock") == 0)
        return sockets(argv[2], 40 /* AF_VSOCK */);
    if (argc >= 2 && strcmp(argv[1], "net") == 0)
        return net();
    if (argc >= 2 && strcmp(argv[1], "arches") == 0)
        return arches();
    fprintf(stderr, "usage: probe trap|int80|x32 NR | probe arches | probe sockets|vsock FILE "
                    "| probe net\n");
    return 64;
}
