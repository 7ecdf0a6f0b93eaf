/* Scenario 2, C baseline: resolve every syscall name to its native number.
 *
 *   resolve NAMES.txt PASSES
 *
 * Reads one name per line, then times PASSES passes of
 * seccomp_syscall_resolve_name over all names.  The first pass in a fresh
 * process is "cold".  Prints {"cold_ns": N, "warm_ns": [..], "names": N, "sum": S}. */
#include "common.h"
#include <seccomp.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAMES.txt PASSES\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in)
        die(argv[1]);
    static char names[2048][64];
    size_t n = 0;
    while (n < 2048 && fscanf(in, "%63s", names[n]) == 1)
        n++;
    fclose(in);
    int passes = atoi(argv[2]);
    long long sum = 0;
    printf("{\"names\": %zu, ", n);
    for (int p = 0; p < passes; p++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < n; i++)
            sum += seccomp_syscall_resolve_name(names[i]);
        uint64_t t1 = now_ns();
        if (p == 0)
            printf("\"cold_ns\": %llu, \"warm_ns\": [", (unsigned long long)(t1 - t0));
        else
            printf("%s%llu", p > 1 ? ", " : "", (unsigned long long)(t1 - t0));
    }
    printf("], \"sum\": %lld}\n", sum);
    return 0;
}
