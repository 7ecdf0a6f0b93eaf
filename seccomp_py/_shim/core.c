/* Core shim: 2.6 gates, syscall-name copying, kernel probes. */
#include "shim.h"
#include <linux/filter.h>

#if SPY_HAVE_2_6
static const int SPY_HAS_EXPORT_BPF_MEM = 1;
static const int SPY_HAS_TRANSACTIONS = 1;
static const int SPY_HAS_PRECOMPUTE = 1;
static const int SPY_HAS_WAITKILL = 1;
static const int SPY_FLTATR_CTL_WAITKILL = SCMP_FLTATR_CTL_WAITKILL;
#else
static const int SPY_HAS_EXPORT_BPF_MEM = 0;
static const int SPY_HAS_TRANSACTIONS = 0;
static const int SPY_HAS_PRECOMPUTE = 0;
static const int SPY_HAS_WAITKILL = 0;
static const int SPY_FLTATR_CTL_WAITKILL = -1;
#endif

static const uint32_t SPY_ACT_ERRNO_BASE = SCMP_ACT_ERRNO(0);
static const uint32_t SPY_ACT_TRACE_BASE = SCMP_ACT_TRACE(0);
static const int SPY_BPF_MAXINSNS = BPF_MAXINSNS;
/* libseccomp refuses SCMP_ACT_ERRNO(4095) in rules and as the default action,
 * although the kernel accepts it (MAX_ERRNO is 4095 in linux/err.h). */
static const int SPY_LIBSECCOMP_MAX_ERRNO = 4094;

/* seccomp_export_bpf_mem(3) where libseccomp has it (2.6+), else -EOPNOTSUPP:
 * the Python layer then exports through a memfd. */
int spy_export_bpf_mem(const scmp_filter_ctx ctx, void *buf, size_t *len)
{
#if SPY_HAVE_2_6
    return seccomp_export_bpf_mem(ctx, buf, len);
#else
    (void)ctx; (void)buf; (void)len;
    return -EOPNOTSUPP;
#endif
}

int spy_transaction_start(scmp_filter_ctx ctx)
{
#if SPY_HAVE_2_6
    return seccomp_transaction_start(ctx);
#else
    (void)ctx;
    return -EOPNOTSUPP;
#endif
}

int spy_transaction_commit(scmp_filter_ctx ctx)
{
#if SPY_HAVE_2_6
    return seccomp_transaction_commit(ctx);
#else
    (void)ctx;
    return -EOPNOTSUPP;
#endif
}

int spy_transaction_reject(scmp_filter_ctx ctx)
{
#if SPY_HAVE_2_6
    seccomp_transaction_reject(ctx);
    return 0;
#else
    (void)ctx;
    return -EOPNOTSUPP;
#endif
}

int spy_precompute(scmp_filter_ctx ctx)
{
#if SPY_HAVE_2_6
    return seccomp_precompute(ctx);
#else
    (void)ctx;
    return -EOPNOTSUPP;
#endif
}

/* Copy the name of syscall `nr` on `arch` into buf and free libseccomp's copy.
 * Returns the length, -ENOENT if libseccomp does not know the number, or
 * -ERANGE if buf is too small. */
int spy_syscall_name(uint32_t arch, int nr, char *buf, size_t len)
{
    char *name = seccomp_syscall_resolve_num_arch(arch, nr);
    size_t n;

    if (name == NULL)
        return -ENOENT;
    n = strlen(name);
    if (n + 1 > len) {
        free(name);
        return -ERANGE;
    }
    memcpy(buf, name, n + 1);
    free(name);
    return (int)n;
}

/* SECCOMP_GET_ACTION_AVAIL: 0 if the kernel knows the action, else -errno. */
int spy_action_avail(uint32_t action)
{
    if (spy_raw_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
        return 0;
    return -errno;
}

/* A filter flag is known to the kernel when seccomp(SET_MODE_FILTER, flag,
 * NULL) fails with EFAULT (it got as far as reading the program) rather than
 * EINVAL.  Returns 0 when available, else -errno. */
int spy_flag_avail(unsigned int flag)
{
    long rc = spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL);
    if (rc == 0)
        return 0;   /* cannot happen with a NULL program */
    return errno == EFAULT ? 0 : -errno;
}

/* What seccomp_rule_add(3) refuses whatever the filter's arches, checked for
 * rules [0, n) before any is added, so that such a batch changes nothing even
 * without transactions (libseccomp < 2.6): the action equal to the default
 * action (-EACCES), an errno above SPY_LIBSECCOMP_MAX_ERRNO, more than 6
 * comparisons, a bad argument index or operator, two comparisons on one
 * argument (-EINVAL).  Returns 0, or -errno with *failed_at set to the rule
 * (n + 1 when the default action could not be read). */
static int spy_rules_check(scmp_filter_ctx ctx, size_t n, const uint32_t *actions,
                           const unsigned int *counts, const struct scmp_arg_cmp *cmps,
                           size_t *failed_at)
{
    uint32_t def = 0;
    size_t i, first = 0;
    int rc = seccomp_attr_get(ctx, SCMP_FLTATR_ACT_DEFAULT, &def);

    if (rc < 0) {
        *failed_at = n + 1;
        return rc;
    }
    for (i = 0; i < n; i++) {
        unsigned int count = counts ? counts[i] : 0, j, k;
        uint32_t act = actions[i];

        *failed_at = i;
        if (act == def)
            return -EACCES;
        if ((act & SECCOMP_RET_ACTION_FULL) == SCMP_ACT_ERRNO(0) &&
            (act & SECCOMP_RET_DATA) > (uint32_t)SPY_LIBSECCOMP_MAX_ERRNO)
            return -EINVAL;
        if (count > 6)
            return -EINVAL;
        for (j = 0; j < count; j++) {
            const struct scmp_arg_cmp *c = cmps + first + j;

            if (c->arg > 5 || c->op <= _SCMP_CMP_MIN || c->op >= _SCMP_CMP_MAX)
                return -EINVAL;
            for (k = 0; k < j; k++)
                if (cmps[first + k].arg == c->arg)
                    return -EINVAL;
        }
        first += count;
    }
    return 0;
}

/* Add n rules in one call (Filter.add_rules).  Rule i is actions[i] for
 * syscalls[i] with the counts[i] comparisons that follow those of rule i-1 in
 * cmps (counts may be NULL: no comparisons at all).  Stops at the first
 * failure and returns its -errno; *failed_at is the failing rule's index, n
 * when the transaction commit failed (the filter's state is unknown), n + 1
 * when nothing could start (nothing changed); *kept is the number of rules of
 * the batch left in the filter after a refused rule (0 but before 2.6).
 *
 * Every rule is first checked for what libseccomp refuses whatever the arches
 * (spy_rules_check): such a batch changes nothing, with any libseccomp.  With
 * libseccomp 2.6 the whole batch is one transaction: on failure nothing is
 * kept.  Before 2.6 each rule is atomic but the rules before one refused later
 * (an arch-specific refusal, ENOMEM) stay in the filter; the Python layer then
 * marks the filter failed. */
int spy_rule_add_many(scmp_filter_ctx ctx, size_t n, const uint32_t *actions,
                      const int *syscalls, const unsigned int *counts,
                      const struct scmp_arg_cmp *cmps, size_t *failed_at, size_t *kept)
{
    size_t i, first = 0;
    int rc;

    *kept = 0;
    rc = spy_rules_check(ctx, n, actions, counts, cmps, failed_at);
    if (rc < 0)
        return rc;
    *failed_at = n + 1;
#if SPY_HAVE_2_6
    rc = seccomp_transaction_start(ctx);
    if (rc < 0)
        return rc;
#endif
    *failed_at = n;
    for (i = 0; i < n; i++) {
        unsigned int count = counts ? counts[i] : 0;

        rc = seccomp_rule_add_array(ctx, actions[i], syscalls[i], count,
                                    count ? cmps + first : NULL);
        if (rc < 0) {
            *failed_at = i;
#if SPY_HAVE_2_6
            seccomp_transaction_reject(ctx);
#else
            *kept = i;
#endif
            return rc;
        }
        first += count;
    }
#if SPY_HAVE_2_6
    /* a failed commit leaves the transaction's state unknown: the Python
     * layer marks the filter failed (*failed_at == n) */
    rc = seccomp_transaction_commit(ctx);
    if (rc < 0)
        return rc;
#endif
    return 0;
}
