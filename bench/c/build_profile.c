/* Scenario 1, C baseline: build a flattened profile into BPF with libseccomp.
 *
 *   build_profile FLAT.txt ITERATIONS OPTIMIZE [OUT.bpf]
 *
 * FLAT.txt is bench/harness/flatten.py's --text format.  Each iteration
 * (timed): seccomp_init, [OPTIMIZE=2: binary tree], resolve every name with
 * seccomp_syscall_resolve_name, seccomp_rule_add_array with its comparisons,
 * seccomp_export_bpf into a memfd and read the bytes back, seccomp_release.
 * Prints one JSON line: {"ns": [per-iteration ns...], "insns": N}. */
#include "common.h"
#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

struct rule {
    char name[64];
    uint32_t action;
    unsigned int ncmp;
    struct scmp_arg_cmp cmp[6];
};

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s FLAT.txt ITERATIONS OPTIMIZE [OUT.bpf]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (!in)
        die(argv[1]);
    int iters = atoi(argv[2]), optimize = atoi(argv[3]);
    uint32_t def = 0;
    if (fscanf(in, "default %x", &def) != 1) {
        fprintf(stderr, "bad header\n");
        return 2;
    }
    size_t cap = 1024, n = 0;
    struct rule *rules = calloc(cap, sizeof(*rules));
    struct rule r;
    while (fscanf(in, "%63s %x %u", r.name, &r.action, &r.ncmp) == 3) {
        if (r.ncmp > 6) {
            fprintf(stderr, "bad rule %s\n", r.name);
            return 2;
        }
        for (unsigned int i = 0; i < r.ncmp; i++) {
            unsigned long long a, b;
            unsigned int idx, op;
            if (fscanf(in, "%u %u %llu %llu", &idx, &op, &a, &b) != 4)
                return 2;
            r.cmp[i].arg = idx;
            r.cmp[i].op = (enum scmp_compare)op;
            r.cmp[i].datum_a = a;
            r.cmp[i].datum_b = b;
        }
        if (n == cap)
            return 2;
        rules[n++] = r;
    }
    fclose(in);

    int mfd = memfd_create("bench-bpf", MFD_CLOEXEC);
    if (mfd < 0)
        die("memfd_create");
    char *buf = malloc(1 << 20);
    ssize_t len = 0;
    printf("{\"ns\": [");
    for (int it = 0; it < iters; it++) {
        uint64_t t0 = now_ns();
        scmp_filter_ctx ctx = seccomp_init(def);
        if (!ctx)
            die("seccomp_init");
        if (optimize == 2 && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0)
            die("seccomp_attr_set");
        for (size_t i = 0; i < n; i++) {
            int nr = seccomp_syscall_resolve_name(rules[i].name);
            int rc = seccomp_rule_add_array(ctx, rules[i].action, nr, rules[i].ncmp,
                                            rules[i].ncmp ? rules[i].cmp : NULL);
            if (rc < 0) {
                errno = -rc;
                die(rules[i].name);
            }
        }
        if (ftruncate(mfd, 0) < 0 || lseek(mfd, 0, SEEK_SET) < 0)
            die("ftruncate");
        int rc = seccomp_export_bpf(ctx, mfd);
        if (rc < 0) {
            errno = -rc;
            die("seccomp_export_bpf");
        }
        len = pread(mfd, buf, 1 << 20, 0);
        if (len < 0)
            die("pread");
        seccomp_release(ctx);
        uint64_t t1 = now_ns();
        printf("%s%llu", it ? ", " : "", (unsigned long long)(t1 - t0));
    }
    printf("], \"insns\": %zd, \"rules\": %zu}\n", len / 8, n);
    if (argc > 4) {
        FILE *out = fopen(argv[4], "wb");
        if (!out || fwrite(buf, 1, (size_t)len, out) != (size_t)len || fclose(out))
            die(argv[4]);
    }
    return 0;
}
