/* Kernel constants as the C headers (or shim.h's fallbacks) define them,
 * exported so that tests/test_kernel_constants.py can check
 * seccomp_py/_kernel.py against them; nothing else reads them.  The macros
 * named in kernel.cdef are filled in by the compiler from these includes. */
#include "shim.h"
#include <limits.h>
#include <linux/filter.h>
