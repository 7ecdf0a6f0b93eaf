/* The cost of one syscall under a seccomp program (bench/codegen/bench_codegen.py).
 *
 *   callloop BPF_FILE|- ITERATIONS NR:ARG [NR:ARG...]
 *
 * Loads the raw program in BPF_FILE ("-": none) with no_new_privs +
 * seccomp(SECCOMP_SET_MODE_FILTER), then for each NR:ARG times ITERATIONS
 * calls syscall(NR, ARG) in 20 batches and prints, per case, the median
 * batch's ns per call, space-separated on one line.  The result of the call
 * is not checked (a refused call returns -1 like any other). */
#include "../c/common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BATCHES 20

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_cost(long nr, unsigned long arg, long iters)
{
    long per = iters / BATCHES > 0 ? iters / BATCHES : 1;
    double ns[BATCHES];
    for (long i = 0; i < per; i++)  /* warm-up */
        syscall(nr, arg);
    for (int b = 0; b < BATCHES; b++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < per; i++)
            syscall(nr, arg);
        ns[b] = (double)(now_ns() - t0) / (double)per;
    }
    qsort(ns, BATCHES, sizeof ns[0], cmp_double);
    return (ns[BATCHES / 2 - 1] + ns[BATCHES / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s BPF_FILE|- ITERATIONS NR:ARG...\n", argv[0]);
        return 2;
    }
    long iters = atol(argv[2]);
    load_filter_file(argv[1]);
    for (int i = 3; i < argc; i++) {
        long nr = strtol(argv[i], NULL, 0);
        const char *colon = strchr(argv[i], ':');
        unsigned long arg = colon ? strtoul(colon + 1, NULL, 0) : 0;
        printf("%s%.2f", i > 3 ? " " : "", median_cost(nr, arg, iters));
    }
    printf("\n");
    return 0;
}
