/* The one classic-BPF evaluator of seccomp_py, and the verifier's C half.
 *
 * A seccomp program reads `struct seccomp_data` as 16 32-bit words (offset
 * k / 4): nr, arch, the instruction pointer's two halves and the six
 * arguments' two halves each, in the calling arch's byte order.  Every
 * function here takes the data as those 16 words, so the same code serves
 * any arch whatever the host's byte order; spy_bpf_eval() builds them from
 * (nr, arch, ip, args).
 *
 * Semantics are the kernel's (net/core/filter.c bpf_check_classic() plus
 * kernel/seccomp.c seccomp_check_filter(), and the classic-to-eBPF
 * conversion that runs the program): only the opcodes seccomp accepts,
 * word loads at aligned offsets below 64, scratch slots 0..15 that must be
 * stored before they are read, forward jumps in range, a final ret;
 * division by X == 0 ends the program with 0 (SECCOMP_RET_KILL_THREAD);
 * shifts by X use the low 5 bits of X (as the x86-64 JIT does).
 *
 * spy_bpf_probe() is an abstract run for the verifier (seccomp_py/verify.py):
 * with nr and arch fixed and every other word unknown, it walks each path
 * the program can take and lists the comparisons it makes on unknown words,
 * or answers -ENOTSUP when the program computes on unknown data in a way the
 * verifier's partition cannot cover. */
#include "shim.h"
#include <linux/filter.h>
#include <sys/prctl.h>

#define SPY_WORDS 16

/* The kernel's checks but the length limit (`limit` instructions at most);
 * 0 or -EINVAL. */
static int spy_check(const void *prog, unsigned int n, unsigned int limit)
{
    const struct sock_filter *f = prog;
    unsigned int pc;
    uint16_t *stored;
    if (n == 0 || n > limit)
        return -EINVAL;
    for (pc = 0; pc < n; pc++) {
        uint16_t code = f[pc].code;
        uint32_t k = f[pc].k;
        switch (code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (k >= SPY_WORDS * 4 || (k & 3))
                return -EINVAL;
            break;
        case BPF_LD | BPF_W | BPF_LEN:
        case BPF_LDX | BPF_W | BPF_LEN:
        case BPF_RET | BPF_K:
        case BPF_RET | BPF_A:
        case BPF_ALU | BPF_ADD | BPF_K: case BPF_ALU | BPF_ADD | BPF_X:
        case BPF_ALU | BPF_SUB | BPF_K: case BPF_ALU | BPF_SUB | BPF_X:
        case BPF_ALU | BPF_MUL | BPF_K: case BPF_ALU | BPF_MUL | BPF_X:
        case BPF_ALU | BPF_DIV | BPF_X:
        case BPF_ALU | BPF_AND | BPF_K: case BPF_ALU | BPF_AND | BPF_X:
        case BPF_ALU | BPF_OR | BPF_K: case BPF_ALU | BPF_OR | BPF_X:
        case BPF_ALU | BPF_XOR | BPF_K: case BPF_ALU | BPF_XOR | BPF_X:
        case BPF_ALU | BPF_LSH | BPF_X: case BPF_ALU | BPF_RSH | BPF_X:
        case BPF_ALU | BPF_NEG:
        case BPF_LD | BPF_IMM:
        case BPF_LDX | BPF_IMM:
        case BPF_MISC | BPF_TAX:
        case BPF_MISC | BPF_TXA:
            break;
        case BPF_ALU | BPF_DIV | BPF_K:
            if (k == 0)
                return -EINVAL;
            break;
        case BPF_ALU | BPF_LSH | BPF_K:
        case BPF_ALU | BPF_RSH | BPF_K:
            if (k >= 32)
                return -EINVAL;
            break;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (k >= BPF_MEMWORDS)
                return -EINVAL;
            break;
        case BPF_JMP | BPF_JA:
            if (k >= n - pc - 1)
                return -EINVAL;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K: case BPF_JMP | BPF_JEQ | BPF_X:
        case BPF_JMP | BPF_JGE | BPF_K: case BPF_JMP | BPF_JGE | BPF_X:
        case BPF_JMP | BPF_JGT | BPF_K: case BPF_JMP | BPF_JGT | BPF_X:
        case BPF_JMP | BPF_JSET | BPF_K: case BPF_JMP | BPF_JSET | BPF_X:
            if (pc + f[pc].jt + 1 >= n || pc + f[pc].jf + 1 >= n)
                return -EINVAL;
            break;
        default:
            return -EINVAL;
        }
    }
    if (BPF_CLASS(f[n - 1].code) != BPF_RET)
        return -EINVAL;
    /* scratch memory must be written before it is read, the kernel's way
     * (check_load_and_stores(): a ret does not reset what is known) */
    stored = malloc(n * sizeof *stored);
    if (!stored)
        return -ENOMEM;
    memset(stored, 0xff, n * sizeof *stored);
    {
        uint16_t valid = 0;
        for (pc = 0; pc < n; pc++) {
            uint16_t code = f[pc].code;
            valid &= stored[pc];
            if (code == BPF_ST || code == BPF_STX) {
                valid |= (uint16_t)(1u << f[pc].k);
            } else if (code == (BPF_LD | BPF_MEM) || code == (BPF_LDX | BPF_MEM)) {
                if (!(valid & (1u << f[pc].k))) {
                    free(stored);
                    return -EINVAL;
                }
            } else if (code == (BPF_JMP | BPF_JA)) {
                stored[pc + 1 + f[pc].k] &= valid;
                valid = 0xffff;
            } else if (BPF_CLASS(code) == BPF_JMP) {
                stored[pc + 1 + f[pc].jt] &= valid;
                stored[pc + 1 + f[pc].jf] &= valid;
                valid = 0xffff;
            }
        }
    }
    free(stored);
    return 0;
}

/* The kernel's checks, its length limit (BPF_MAXINSNS) included. */
int spy_bpf_check(const void *prog, unsigned int n)
{
    return spy_check(prog, n, BPF_MAXINSNS);
}

/* The same without the length limit: a program too long to load can still be
 * exported, and verified. */
int spy_bpf_check_any(const void *prog, unsigned int n)
{
    return spy_check(prog, n, 1u << 24);
}

/* Run a checked program on 16 data words.  `free_words` is a bit mask of the
 * words whose value is unknown (bit i: word i): when a jump or ret reads a
 * value computed from one, *dep is set to 1 and the run stops early. */
static uint32_t spy_run(const struct sock_filter *f, const uint32_t *w,
                        uint32_t free_words, int *dep)
{
    uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {0};
    int tA = 0, tX = 0, tM[BPF_MEMWORDS] = {0};
    unsigned int pc = 0;
    for (;;) {
        const struct sock_filter *i = &f[pc++];
        uint32_t k = i->k, src;
        int ts, cond;
        switch (BPF_CLASS(i->code)) {
        case BPF_LD:
            switch (BPF_MODE(i->code)) {
            case BPF_ABS: A = w[k / 4]; tA = (free_words >> (k / 4)) & 1; break;
            case BPF_MEM: A = M[k]; tA = tM[k]; break;
            case BPF_LEN: A = SPY_WORDS * 4; tA = 0; break;
            default: A = k; tA = 0; break;
            }
            break;
        case BPF_LDX:
            switch (BPF_MODE(i->code)) {
            case BPF_MEM: X = M[k]; tX = tM[k]; break;
            case BPF_LEN: X = SPY_WORDS * 4; tX = 0; break;
            default: X = k; tX = 0; break;
            }
            break;
        case BPF_ST: M[k] = A; tM[k] = tA; break;
        case BPF_STX: M[k] = X; tM[k] = tX; break;
        case BPF_ALU:
            src = BPF_SRC(i->code) == BPF_X ? X : k;
            ts = BPF_SRC(i->code) == BPF_X ? tX : 0;
            switch (BPF_OP(i->code)) {
            case BPF_ADD: A += src; break;
            case BPF_SUB: A -= src; break;
            case BPF_MUL: A *= src; break;
            case BPF_DIV:
                if (ts && dep) { *dep = 1; return 0; }
                if (src == 0)
                    return 0;
                A /= src;
                break;
            case BPF_OR: A |= src; break;
            case BPF_AND: A &= src; break;
            case BPF_XOR: A ^= src; break;
            case BPF_LSH: A <<= (src & 31); break;
            case BPF_RSH: A >>= (src & 31); break;
            case BPF_NEG: A = -A; break;
            }
            tA |= ts;
            break;
        case BPF_JMP:
            if (BPF_OP(i->code) == BPF_JA) {
                pc += k;
                continue;
            }
            src = BPF_SRC(i->code) == BPF_X ? X : k;
            ts = BPF_SRC(i->code) == BPF_X ? tX : 0;
            if ((tA || ts) && dep) { *dep = 1; return 0; }
            switch (BPF_OP(i->code)) {
            case BPF_JEQ: cond = A == src; break;
            case BPF_JGT: cond = A > src; break;
            case BPF_JGE: cond = A >= src; break;
            default: cond = (A & src) != 0; break;
            }
            pc += cond ? i->jt : i->jf;
            break;
        case BPF_RET:
            if (BPF_RVAL(i->code) == BPF_A) {
                if (tA && dep) { *dep = 1; return 0; }
                return A;
            }
            return k;
        default: /* MISC */
            if (BPF_MISCOP(i->code) == BPF_TAX) { X = A; tX = tA; }
            else { A = X; tA = tX; }
            break;
        }
    }
}

static void spy_words(uint32_t *w, uint32_t nr, uint32_t arch, uint64_t ip, const uint64_t *args)
{
    int le = (arch & __AUDIT_ARCH_LE) != 0, i;
    w[0] = nr;
    w[1] = arch;
    w[2] = le ? (uint32_t)ip : (uint32_t)(ip >> 32);
    w[3] = le ? (uint32_t)(ip >> 32) : (uint32_t)ip;
    for (i = 0; i < 6; i++) {
        uint64_t a = args ? args[i] : 0;
        w[4 + 2 * i] = le ? (uint32_t)a : (uint32_t)(a >> 32);
        w[5 + 2 * i] = le ? (uint32_t)(a >> 32) : (uint32_t)a;
    }
}

/* Run `prog` (n instructions, host byte order) on the seccomp_data
 * {nr, arch, ip, args[6]} (laid out in arch's byte order) and store the
 * return value in *result.  0, or -EINVAL for a program the kernel refuses. */
int spy_bpf_eval(const void *prog, unsigned int n, uint32_t nr, uint32_t arch,
                 uint64_t ip, const uint64_t *args, uint32_t *result)
{
    uint32_t w[SPY_WORDS];
    int rc = spy_bpf_check(prog, n);
    if (rc < 0)
        return rc;
    spy_words(w, nr, arch, ip, args);
    *result = spy_run(prog, w, 0, NULL);
    return 0;
}

/* Many runs of one (checked) program: words is count * 16 data words. */
int spy_bpf_eval_words(const void *prog, unsigned int n, size_t count,
                       const uint32_t *words, uint32_t *results)
{
    size_t i;
    int rc = spy_bpf_check_any(prog, n);
    if (rc < 0)
        return rc;
    for (i = 0; i < count; i++)
        results[i] = spy_run(prog, words + i * SPY_WORDS, 0, NULL);
    return 0;
}

/* For each (arch[i], nr[i]) with every other word 0: the result, and dep[i]
 * = 1 when the path taken reads a word other than nr and arch (then the
 * result is not set: the caller probes).  The program must be checked. */
int spy_bpf_scan(const void *prog, unsigned int n, size_t count, const uint32_t *arch,
                 const uint32_t *nr, uint32_t *results, uint8_t *dep)
{
    uint32_t w[SPY_WORDS];
    size_t i;
    memset(w, 0, sizeof w);
    for (i = 0; i < count; i++) {
        int d = 0;
        w[0] = nr[i];
        w[1] = arch[i];
        results[i] = spy_run(prog, w, 0xfffcu, &d);
        dep[i] = (uint8_t)d;
    }
    return 0;
}

/* ---- the abstract run --------------------------------------------------- */

enum { AV_UNSET, AV_CONST, AV_WORD, AV_WAND, AV_OTHER };
struct spy_av { uint8_t kind; uint8_t word; uint32_t v; uint32_t mask; };
struct spy_astate { uint8_t live; struct spy_av A, X, M[BPF_MEMWORDS]; };

/* Walk every path of the (checked) program with nr and arch fixed (a
 * depth-first search over the branches that depend on other words; the
 * state is copied at each branch, so a register's content is exact on each
 * path).  For each path that ends in a ret: its conditions, appended to
 * (c_word, c_mask, c_k, c_op) with op 0 = A == k, 1 = A > k, 2 = A >= k,
 * 3 = (A & k) != 0 where A = word & mask, plus 0x80 when the condition
 * holds on the path; path_end[p] is the index after its last condition and
 * path_ret[p] its return value.  Returns the number of paths, -E2BIG when
 * there are more than max_paths paths or max_cons conditions in all (or
 * more than 2^22 instructions walked), -ENOTSUP when a decision depends on
 * unknown data other than through such conditions (arithmetic on it, a
 * register compared with a register, ret A of it), -ENOMEM. */
int spy_bpf_paths(const void *prog, unsigned int n, uint32_t arch, uint32_t nr,
                  uint8_t *c_word, uint32_t *c_mask, uint32_t *c_k, uint8_t *c_op,
                  int max_cons, int *path_end, uint32_t *path_ret, int max_paths)
{
    const struct sock_filter *f = prog;
    struct cond { uint8_t word, op; uint32_t mask, k; };
    struct frame { unsigned int pc; int depth; struct cond pending; struct spy_astate s; } *stack;
    struct cond *path;
    size_t sp = 0, cap = (size_t)n + 1;
    long budget = 1L << 22;
    int paths = 0, ncons = 0, depth = 0, rc = 0;
    stack = malloc(cap * sizeof *stack);
    path = malloc(cap * sizeof *path);
    if (!stack || !path) {
        free(stack);
        free(path);
        return -ENOMEM;
    }
    memset(&stack[0], 0, sizeof stack[0]);
    stack[0].depth = -1;
    sp = 1;
    while (sp && rc == 0) {
        struct frame *fr = &stack[--sp];
        unsigned int pc = fr->pc;
        struct spy_astate cur = fr->s;
        if (fr->depth >= 0) {
            depth = fr->depth;
            path[depth++] = fr->pending;
        } else {
            depth = 0;
        }
        for (;;) {
            const struct sock_filter *i = &f[pc];
            struct spy_av *a = &cur.A, src;
            uint32_t k = i->k, ret = 0;
            if (--budget < 0) { rc = -E2BIG; goto out; }
            switch (BPF_CLASS(i->code)) {
            case BPF_LD:
            case BPF_LDX: {
                struct spy_av v = {AV_CONST, 0, 0, 0};
                switch (BPF_MODE(i->code)) {
                case BPF_ABS:
                    if (k == 0) v.v = nr;
                    else if (k == 4) v.v = arch;
                    else { v.kind = AV_WORD; v.word = (uint8_t)(k / 4); v.mask = 0xffffffffu; }
                    break;
                case BPF_MEM: v = cur.M[k]; break;
                case BPF_LEN: v.v = SPY_WORDS * 4; break;
                default: v.v = k; break;
                }
                if (BPF_CLASS(i->code) == BPF_LD) cur.A = v; else cur.X = v;
                pc++;
                continue;
            }
            case BPF_ST: cur.M[k] = cur.A; pc++; continue;
            case BPF_STX: cur.M[k] = cur.X; pc++; continue;
            case BPF_MISC:
                if (BPF_MISCOP(i->code) == BPF_TAX) cur.X = cur.A; else cur.A = cur.X;
                pc++;
                continue;
            case BPF_ALU:
                if (BPF_SRC(i->code) == BPF_X && BPF_OP(i->code) != BPF_NEG) src = cur.X;
                else { src.kind = AV_CONST; src.word = 0; src.v = k; src.mask = 0; }
                if (a->kind == AV_CONST && src.kind == AV_CONST) {
                    uint32_t x = a->v, y = src.v;
                    switch (BPF_OP(i->code)) {
                    case BPF_ADD: x += y; break;
                    case BPF_SUB: x -= y; break;
                    case BPF_MUL: x *= y; break;
                    case BPF_DIV: if (y == 0) goto leaf; x /= y; break; /* ret 0 */
                    case BPF_OR: x |= y; break;
                    case BPF_AND: x &= y; break;
                    case BPF_XOR: x ^= y; break;
                    case BPF_LSH: x <<= (y & 31); break;
                    case BPF_RSH: x >>= (y & 31); break;
                    case BPF_NEG: x = -x; break;
                    }
                    a->v = x;
                } else if (BPF_OP(i->code) == BPF_AND && src.kind == AV_CONST
                           && (a->kind == AV_WORD || a->kind == AV_WAND)) {
                    a->kind = AV_WAND;
                    a->mask &= src.v;
                } else if (BPF_OP(i->code) == BPF_DIV && src.kind != AV_CONST) {
                    rc = -ENOTSUP;
                    goto out;
                } else {
                    a->kind = AV_OTHER;
                }
                pc++;
                continue;
            case BPF_JMP: {
                uint8_t op;
                if (BPF_OP(i->code) == BPF_JA) { pc += 1 + k; continue; }
                if (BPF_SRC(i->code) == BPF_X) src = cur.X;
                else { src.kind = AV_CONST; src.word = 0; src.v = k; src.mask = 0; }
                if (a->kind == AV_CONST && src.kind == AV_CONST) {
                    int cond;
                    switch (BPF_OP(i->code)) {
                    case BPF_JEQ: cond = a->v == src.v; break;
                    case BPF_JGT: cond = a->v > src.v; break;
                    case BPF_JGE: cond = a->v >= src.v; break;
                    default: cond = (a->v & src.v) != 0; break;
                    }
                    pc += 1 + (cond ? i->jt : i->jf);
                    continue;
                }
                if (src.kind != AV_CONST || (a->kind != AV_WORD && a->kind != AV_WAND)) {
                    rc = -ENOTSUP;
                    goto out;
                }
                op = BPF_OP(i->code) == BPF_JEQ ? 0 : BPF_OP(i->code) == BPF_JGT ? 1
                     : BPF_OP(i->code) == BPF_JGE ? 2 : 3;
                if (sp >= cap) { rc = -E2BIG; goto out; }
                stack[sp].pc = pc + 1 + i->jf;
                stack[sp].depth = depth;
                stack[sp].pending.word = a->word;
                stack[sp].pending.op = op;
                stack[sp].pending.mask = a->mask;
                stack[sp].pending.k = src.v;
                stack[sp].s = cur;
                sp++;
                path[depth].word = a->word;
                path[depth].op = op | 0x80;
                path[depth].mask = a->mask;
                path[depth].k = src.v;
                depth++;
                pc += 1 + i->jt;
                continue;
            }
            default: /* RET */
                if (BPF_RVAL(i->code) == BPF_A) {
                    if (a->kind != AV_CONST) { rc = -ENOTSUP; goto out; }
                    ret = a->v;
                } else {
                    ret = k;
                }
                goto leaf;
            }
leaf:
            if (paths >= max_paths || ncons + depth > max_cons) { rc = -E2BIG; goto out; }
            {
                int j;
                for (j = 0; j < depth; j++) {
                    c_word[ncons] = path[j].word;
                    c_mask[ncons] = path[j].mask;
                    c_k[ncons] = path[j].k;
                    c_op[ncons] = path[j].op;
                    ncons++;
                }
            }
            path_end[paths] = ncons;
            path_ret[paths] = ret;
            paths++;
            break;
        }
    }
out:
    free(stack);
    free(path);
    return rc < 0 ? rc : paths;
}

/* Every constant the program compares the nr word (offset 0) against, on
 * the paths a call with arch token `arch` can take (a path-insensitive pass:
 * jumps on the arch word are decided, every other jump is taken both ways):
 * at most max, -E2BIG for more. */
int spy_bpf_nr_consts(const void *prog, unsigned int n, uint32_t arch, uint32_t *out,
                      uint32_t *mask_out, int max)
{
    const struct sock_filter *f = prog;
    /* what A holds at each pc: -1 unknown, else the word index; and its mask */
    int16_t *word = malloc(n * sizeof *word);
    uint32_t *mask = malloc(n * sizeof *mask);
    unsigned int pc;
    int count = 0;
    if (!word || !mask) { free(word); free(mask); return -ENOMEM; }
    for (pc = 0; pc < n; pc++) { word[pc] = -2; mask[pc] = 0; }
    word[0] = -1;
    for (pc = 0; pc < n; pc++) {
        const struct sock_filter *i = &f[pc];
        int16_t wa = word[pc];
        uint32_t ma = mask[pc];
        unsigned int t[2];
        int nt = 1, j;
        if (wa == -2)
            continue;
        t[0] = pc + 1;
        switch (BPF_CLASS(i->code)) {
        case BPF_LD:
            if (BPF_MODE(i->code) == BPF_ABS) { wa = (int16_t)(i->k / 4); ma = 0xffffffffu; }
            else wa = -1;
            break;
        case BPF_ALU:
            if (BPF_OP(i->code) == BPF_AND && BPF_SRC(i->code) == BPF_K && wa >= 0) ma &= i->k;
            else wa = -1;
            break;
        case BPF_MISC:
            if (BPF_MISCOP(i->code) == BPF_TXA) wa = -1;
            break;
        case BPF_RET:
            nt = 0;
            break;
        case BPF_JMP:
            if (BPF_OP(i->code) == BPF_JA) { t[0] = pc + 1 + i->k; break; }
            if (wa == 1 && BPF_SRC(i->code) == BPF_K) { /* the arch: known */
                uint32_t a = arch & ma;
                int cond;
                switch (BPF_OP(i->code)) {
                case BPF_JEQ: cond = a == i->k; break;
                case BPF_JGT: cond = a > i->k; break;
                case BPF_JGE: cond = a >= i->k; break;
                default: cond = (a & i->k) != 0; break;
                }
                t[0] = pc + 1 + (cond ? i->jt : i->jf);
                break;
            }
            if (wa == 0 && BPF_SRC(i->code) == BPF_K) {
                if (count >= max) { free(word); free(mask); return -E2BIG; }
                mask_out[count] = BPF_OP(i->code) == BPF_JSET ? (i->k & ma) : ma;
                out[count++] = BPF_OP(i->code) == BPF_JSET ? 0 : i->k;
            }
            t[0] = pc + 1 + i->jt;
            t[1] = pc + 1 + i->jf;
            nt = 2;
            break;
        }
        for (j = 0; j < nt; j++) {
            if (t[j] >= n) continue;
            if (word[t[j]] == -2) { word[t[j]] = wa; mask[t[j]] = ma; }
            else if (word[t[j]] != wa || mask[t[j]] != ma) word[t[j]] = -1;
        }
    }
    free(word);
    free(mask);
    return count;
}

/* The one raw loader of the shim (no libseccomp): every program seccomp_py
 * built, repaired or generated itself (Filter.load, compat, the notifier
 * handoff's layers) goes to the kernel through here.  PR_SET_NO_NEW_PRIVS
 * when asked, then seccomp(SECCOMP_SET_MODE_FILTER, flags) with the flags the
 * caller computed from the filter's attributes (TSYNC, LOG, SPEC_ALLOW,
 * NEW_LISTENER, ...).  With NEW_LISTENER and TSYNC, TSYNC_ESRCH is added (the
 * kernel refuses the pair without it: a thread id and a listener fd would be
 * indistinguishable).  Returns seccomp(2)'s result (0, a listener fd, or with
 * TSYNC alone the id of a thread that could not sync) or -errno. */
int spy_load_program(const void *prog, unsigned int n, unsigned int flags, int nnp)
{
    struct sock_fprog fp;
    long rc;
    if (prog == NULL || n == 0 || n > BPF_MAXINSNS)
        return -EINVAL;
    fp.len = (unsigned short)n;
    fp.filter = (struct sock_filter *)prog;
    if ((flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) && (flags & SECCOMP_FILTER_FLAG_TSYNC))
        flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    rc = spy_raw_seccomp(SECCOMP_SET_MODE_FILTER, flags, &fp);
    if (rc < 0)
        return -errno;
    return (int)rc;
}
