/* Installing a program seccomp_py generated itself (Optimize.RANGES), the way
 * seccomp_load(3) installs libseccomp's: prctl(PR_SET_NO_NEW_PRIVS) when the
 * filter asks for it, then seccomp(SECCOMP_SET_MODE_FILTER) with the flags
 * the filter's attributes give (TSYNC, LOG, SPEC_ALLOW).  A TSYNC failure
 * (the kernel answers with the id of the thread it could not sync) becomes
 * -ESRCH, as in libseccomp.  Returns 0 or -errno. */
#include "shim.h"
#include <sys/prctl.h>
#include <linux/filter.h>

int spy_install_filter(const void *bpf, size_t bpf_len, unsigned int flags, int nnp)
{
    struct sock_fprog prog;
    long rc;
    if (bpf_len == 0 || bpf_len % sizeof(struct sock_filter) != 0
        || bpf_len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    prog.len = (unsigned short)(bpf_len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)bpf;
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    rc = spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0)
        return -errno;
    return rc > 0 ? -ESRCH : 0;
}
