/* Scenario 5: the cost of a syscall under a seccomp filter.
 *
 *   sysloop BPF_FILE|- ITERATIONS
 *
 * Loads the raw BPF program from BPF_FILE (as exported by any library; "-"
 * loads nothing) with no_new_privs + seccomp(SECCOMP_SET_MODE_FILTER), then
 * times ITERATIONS calls of
 *   - getppid(): allowed without argument checks, so on Linux 5.11+ the
 *     kernel's seccomp action cache skips the filter entirely;
 *   - personality(0xffffffff): a query that changes nothing, allowed by
 *     Docker's profile only through an argument comparison (the filter runs).
 * Each cost is the fastest of 100 batches (see loop()).
 * Prints {"getppid": ns_per_call, "personality": ns_per_call}. */
#include "common.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ITERATIONS calls in 100 batches; the fastest batch is the cost (a batch hit by
 * preemption on a shared machine is slower, never faster). */
static double loop(long nr, unsigned long arg, long iters)
{
    const long batches = 100, per = iters / batches > 0 ? iters / batches : 1;
    double best = 1e18;
    for (long i = 0; i < per; i++)  /* warm-up */
        syscall(nr, arg);
    for (long b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < per; i++)
            if (syscall(nr, arg) < 0)
                die("syscall under filter");
        double ns = (double)(now_ns() - t0) / (double)per;
        if (ns < best)
            best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s BPF_FILE|- ITERATIONS\n", argv[0]);
        return 2;
    }
    long iters = atol(argv[2]);
    load_filter_file(argv[1]);
    double a = loop(SYS_getppid, 0, iters);
    double b = loop(SYS_personality, 0xffffffffUL, iters);
    printf("{\"getppid\": %.2f, \"personality\": %.2f}\n", a, b);
    return 0;
}
