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
