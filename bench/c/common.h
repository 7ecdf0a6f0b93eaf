/* Shared helpers for the benchmark drivers (bench/c/).  Not part of seccomp_py. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *what)
{
    perror(what);
    exit(2);
}
/* Load the raw BPF program in PATH ("-": nothing) with no_new_privs +
 * seccomp(SECCOMP_SET_MODE_FILTER); any failure ends the process. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void load_filter_file(const char *path)
{
    static struct sock_filter prog[4096];
    if (strcmp(path, "-") == 0)
        return;
    FILE *in = fopen(path, "rb");
    if (!in)
        die(path);
    size_t len = fread(prog, sizeof(prog[0]), 4096, in);
    fclose(in);
    struct sock_fprog fprog = {.len = (unsigned short)len, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("prctl(NO_NEW_PRIVS)");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
        die("seccomp(SET_MODE_FILTER)");
}
#endif
