/* Notify shim: helpers for notify.py (seccomp_unotify(2)). */
#include "shim.h"
