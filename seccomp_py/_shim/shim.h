/* Common includes and version gates for the seccomp_py C shim.
 *
 * Every NAME.c file in this folder includes this header; build_ffi.py
 * compiles them all as one translation unit.  A libseccomp 2.6 feature is
 * gated here with a SPY_HAS_* flag, so the shim builds on 2.5 and reports the
 * feature as missing at run time instead of failing to build. */
#ifndef SECCOMP_PY_SHIM_H
#define SECCOMP_PY_SHIM_H

#define _GNU_SOURCE 1
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>

/* Fallbacks for kernel constants that older uapi headers lack: here only
 * (seccomp_py/_kernel.py holds the same values for the Python side, and
 * tests/test_kernel_constants.py checks that both agree). */

/* linux/seccomp.h */
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

/* linux/audit.h */
#ifndef __AUDIT_ARCH_LE
#define __AUDIT_ARCH_LE 0x40000000
#endif

/* arch/x86/include/uapi/asm/unistd.h (an x32 syscall number has this bit;
 * defined on every arch, since a filter for x32 is read on any host) */
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* asm/unistd.h (generic numbers: the same on every arch since 5.1) */
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

/* linux/prctl.h */
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif

/* linux/ptrace.h.  With an SPY_ prefix and always defined: inspect.c calls
 * ptrace through syscall(2) and includes neither <sys/ptrace.h> nor
 * <linux/ptrace.h> (whose definitions clash in one translation unit). */
#define SPY_PTRACE_DETACH 17
#define SPY_PTRACE_SEIZE 0x4206
#define SPY_PTRACE_INTERRUPT 0x4207
#define SPY_PTRACE_SECCOMP_GET_FILTER 0x420c
#define SPY_PTRACE_SECCOMP_GET_METADATA 0x420d
#define SPY_PTRACE_EVENT_STOP 128

#define SPY_LIBSECCOMP_AT_LEAST(maj, min) \
    (SCMP_VER_MAJOR > (maj) || (SCMP_VER_MAJOR == (maj) && SCMP_VER_MINOR >= (min)))

#if SPY_LIBSECCOMP_AT_LEAST(2, 6)
#define SPY_HAVE_2_6 1
#else
#define SPY_HAVE_2_6 0
#endif

/* Raw seccomp(2): glibc has no wrapper. */
static inline long spy_raw_seccomp(unsigned int op, unsigned int flags, void *args)
{
    return syscall(__NR_seccomp, op, flags, args);
}

/* Return codes of the notify receive loop (notify.c: spy_notify_wait_recv,
 * spy_notify_serve_step, spy_notify_loop_step).  Failures are -errno:
 * -EPIPE = hang-up (no task uses the filter any more), -EINTR = a signal. */
#define SPY_NOTIFY_TIMEOUT 0       /* nothing within the timeout (or nothing waiting) */
#define SPY_NOTIFY_RECEIVED 1      /* a notification was received */
#define SPY_NOTIFY_STOPPED 2       /* the stop fd became readable */
#define SPY_NOTIFY_SEND_FAILED 3   /* the answer failed other than with ENOENT */

/* The shim's one raw program loader (verify.c): 0, a listener fd or a TSYNC
 * thread id, or -errno. */
int spy_load_program(const void *prog, unsigned int n, unsigned int flags, int nnp);

#endif
