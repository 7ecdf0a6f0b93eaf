"""What-if for the core helper: how fast scenario 1 gets with two proposed changes.

NOT part of the benchmark table; a one-off experiment to delete once
seccomp_py/filter.py has the changes (see docs/benchmarks.md, "Proposals").

    bench/.venv/bin/python bench/harness/whatif_core.py

Compares, interleaved over 7 runs, each variant in a fresh process (fastest
of 30 builds per run, like scenario 1; the median of the runs is shown):
  - the C driver in its own process, and the same C loop inside a Python process;
  - seccomp_py as it is;
  - ``add_rule`` fast path: no contextlib.contextmanager per call (inline
    lock acquire/release), a plain dict for native name -> number;
  - ``add_rules`` batch: the rules go to C in one call (a prototype shim
    ``spy_rule_add_many`` built here with cffi into bench/out/whatif/).
All variants must produce byte-identical BPF (asserted).
"""
import array
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
OUT = os.path.join(BENCH, "out")
WHATIF = os.path.join(OUT, "whatif")
sys.path.insert(0, HERE)
sys.path.insert(0, WHATIF)


def _build_batch_shim() -> None:
    if os.path.exists(os.path.join(WHATIF, "bp.so")):
        return  # built by an earlier run (bench/out/ is scratch: delete it to rebuild)
    from cffi import FFI
    ffi = FFI()
    ffi.cdef('''
struct scmp_arg_cmp { unsigned int arg; int op; uint64_t datum_a; uint64_t datum_b; };
int spy_rule_add_many(void *ctx, const uint32_t *rules, size_t n,
                      const struct scmp_arg_cmp *cmps, size_t *failed_at);
''')
    ffi.set_source("_batch", r'''
#include <seccomp.h>
/* rules: n quadruples (action, syscall, arg_cnt, first_cmp); stops at the first error */
int spy_rule_add_many(void *ctx, const uint32_t *rules, size_t n,
                      const struct scmp_arg_cmp *cmps, size_t *failed_at)
{
    for (size_t i = 0; i < n; i++) {
        const uint32_t *r = rules + 4 * i;
        int rc = seccomp_rule_add_array(ctx, r[0], (int)r[1], r[2], r[2] ? cmps + r[3] : NULL);
        if (rc < 0) { *failed_at = i; return rc; }
    }
    return 0;
}
''', libraries=["seccomp"])
    os.makedirs(WHATIF, exist_ok=True)
    ffi.compile(tmpdir=WHATIF)

    with open(os.path.join(BENCH, "c", "build_profile.c")) as fh:
        src = fh.read()
    src = src.replace("int main(int argc, char **argv)", "int bench_main(int argc, char **argv)")
    with open(os.path.join(WHATIF, "bp_so.c"), "w") as fh:
        fh.write(src)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-I", os.path.join(BENCH, "c"), "-o",
                    os.path.join(WHATIF, "bp.so"), os.path.join(WHATIF, "bp_so.c"), "-lseccomp"],
                   check=True)


def main() -> None:
    _build_batch_shim()
    sys.path_importer_cache.pop(WHATIF, None)
    import _batch
    import peers

    import seccomp_py as m
    from seccomp_py import filter as fmod
    from seccomp_py import syscall as sc
    from seccomp_py._native import check, ffi, lib
    from seccomp_py.errors import ConcurrentUseError, FilterClosedError

    bffi, blib = _batch.ffi, _batch.lib
    with open(os.path.join(OUT, "flat.json")) as fh:
        default, rules = peers.prepare(json.load(fh))
    ops = {f"SCMP_CMP_{op.name}": op for op in m.Op}
    native: dict[str, int] = {}

    def num(name: str) -> int:
        n = native.get(name)
        if n is None:
            n = native[name] = sc.resolve_name(name)
        return n

    class Fast(m.Filter):
        """Proposed Filter.add_rule fast path (same checks, same errors)."""

        def add_rule(self, action, syscall, *comparisons):  # type: ignore[no-untyped-def]
            act = action if type(action) is m.Action else m.Action.coerce(action)
            if type(syscall) is str:
                number, name = num(syscall), syscall
            else:
                number, name = fmod._syscall_number(syscall)
            count = len(comparisons)
            arr = ffi.NULL
            if count:
                arr = ffi.new("struct scmp_arg_cmp[]", count)
                for i, cmp in enumerate(comparisons):
                    if not isinstance(cmp, m.ArgCmp):
                        raise TypeError("comparisons must be ArgCmp")
                    c = arr[i]
                    c.arg, c.op, c.datum_a, c.datum_b = cmp.index, cmp.op, cmp.a, cmp.b
            lock = self._lock
            if not lock.acquire(False):
                raise ConcurrentUseError("seccomp_rule_add_array")
            try:
                if self._closed is not None:
                    raise FilterClosedError("seccomp_rule_add_array", self._closed)
                rc = lib.seccomp_rule_add_array(self._ctx, act._value, number, count, arr)
            finally:
                self._generation += 1
                lock.release()
            if rc < 0:
                check(rc, "seccomp_rule_add_array", name)

        def add_rules(self, items):  # type: ignore[no-untyped-def]
            """Proposed batch API: [(action, syscall, *comparisons), ...] in one C call."""
            flat: list[int] = []
            cmps = []
            add = flat.extend
            get = native.get
            action_t, argcmp_t = m.Action, m.ArgCmp
            for item in items:
                action, syscall = item[0], item[1]
                if type(action) is not action_t:
                    action = action_t.coerce(action)
                number = get(syscall) if type(syscall) is str else None
                if number is None:
                    number = fmod._syscall_number(syscall)[0]
                    if type(syscall) is str:
                        native[syscall] = number
                n = len(item) - 2
                add((action._value, number & 0xFFFFFFFF, n, len(cmps)))
                if n:
                    for c in item[2:]:
                        if type(c) is not argcmp_t:
                            raise TypeError("comparisons must be ArgCmp")
                        cmps.append((c.index, int(c.op), c.a, c.b))
            quads = array.array("I", flat)
            carr = bffi.new("struct scmp_arg_cmp[]", cmps) if cmps else bffi.NULL
            failed = bffi.new("size_t *")
            ctxp = bffi.cast("void *", int(ffi.cast("uintptr_t", self._ctx)))
            with self._use("seccomp_rule_add_array", change=True):
                rc = blib.spy_rule_add_many(ctxp, bffi.from_buffer("uint32_t[]", quads),
                                            len(quads) // 4, carr, failed)
            if rc < 0:
                check(rc, "seccomp_rule_add_array", f"rule {failed[0]}")

    allow = m.Action.ALLOW

    def cur() -> bytes:
        f = m.Filter(m.Action(default))
        for name, _act, args in rules:
            f.add_rule(allow, name, *[m.ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
        d = f.export_bpf()
        f.close()
        return d

    def fast() -> bytes:
        f = Fast(m.Action(default))
        for name, _act, args in rules:
            f.add_rule(allow, name, *[m.ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
        d = f.export_bpf()
        f.close()
        return d

    def batch() -> bytes:
        f = Fast(m.Action(default))
        f.add_rules([(allow, name, *[m.ArgCmp(i, ops[op], a, b) for i, op, a, b in args])
                     for name, _act, args in rules])
        d = f.export_bpf()
        f.close()
        return d

    assert all(act == allow.value for _, act, _ in rules), "what-if assumes ALLOW rules"
    assert cur() == fast() == batch()
    so = ctypes.CDLL(os.path.join(WHATIF, "bp.so"))

    def c_inproc() -> list[int]:
        with tempfile.TemporaryFile() as tf:
            sys.stdout.flush()
            saved = os.dup(1)
            os.dup2(tf.fileno(), 1)
            argv = (ctypes.c_char_p * 4)(b"x", os.path.join(OUT, "flat.txt").encode(),
                                         b"30", b"1")
            so.bench_main(4, argv)
            ctypes.CDLL(None).fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            tf.seek(0)
            ns: list[int] = json.loads(tf.read())["ns"]
        return ns

    official = next(p for p in peers.load_all() if p.name == "official")

    def off() -> bytes:
        data: bytes = official.build(default, rules, 1)
        return data

    variants = {"seccomp_py now": cur, "seccomp_py + add_rule fast path": fast,
                "seccomp_py + add_rules batch": batch, "official module (reference)": off}
    if len(sys.argv) > 2 and sys.argv[1] == "--variant":
        fn = variants[sys.argv[2]]
        xs = []
        for _ in range(30):
            t0 = time.perf_counter_ns()
            fn()
            xs.append(time.perf_counter_ns() - t0)
        print(min(xs))
        return
    keys = ("C (own process)", "C loop inside a Python process", *variants)
    res: dict[str, list[int]] = {k: [] for k in keys}
    for _ in range(7):
        out = subprocess.run([os.path.join(OUT, "bin", "build_profile"),
                              os.path.join(OUT, "flat.txt"), "30", "1"],
                             capture_output=True, text=True, check=True).stdout
        res[keys[0]].append(min(json.loads(out)["ns"]))
        res[keys[1]].append(min(c_inproc()))
        for key in variants:  # each variant in a fresh process, like scenario 1
            out = subprocess.run([sys.executable, __file__, "--variant", key],
                                 capture_output=True, text=True, check=True).stdout
            res[key].append(int(out.split()[-1]))
    c = statistics.median(res[keys[0]])
    for k, v in res.items():
        med = statistics.median(v)
        print(f"{k:34s} {med / 1e3:6.0f} us  ({min(v) / 1e3:.0f}-{max(v) / 1e3:.0f})"
              f"  {med / c:.2f}x C")


if __name__ == "__main__":
    main()
