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
#include <linux/seccomp.h>
#include <seccomp.h>

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
