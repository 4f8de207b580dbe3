"""Code runs/second: a plain subprocess.run per test (what most RL repos do) vs verirl's sandbox.

Two workloads: a trivial program, and a typical 10-test stdio problem. The
sandbox runs with full isolation (namespaces, pivot_root, cgroups, seccomp,
rlimits). Also measured the same way: the fork-server limit (fork from a warm
interpreter, rlimits only, no namespaces), the ceiling a zygote design can reach.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine, table

TRIVIAL = "print(sum(map(int, input().split())))\n"
TEN = "import sys\nn = int(sys.stdin.readline())\nxs = list(map(int, sys.stdin.readline().split()))\nprint(sum(sorted(xs)[: n // 2]))\n"
CONC = os.cpu_count() or 2


def ten_cases() -> list[tuple[bytes, str]]:
    cases = []
    for k in range(10):
        xs = [(i * 7919 + k) % 1000 for i in range(200)]
        cases.append((f"200\n{' '.join(map(str, xs))}\n".encode(), str(sum(sorted(xs)[:100]))))
    return cases


def plain_subprocess(src: str, cases, reps: int) -> float:
    py = str(Path(sys.executable).resolve())
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "main.py"
        f.write_text(src)

        def one(case):
            r = subprocess.run([py, str(f)], input=case[0], capture_output=True, timeout=10)
            assert r.stdout.split() == case[1].encode().split(), r

        work = [c for _ in range(reps) for c in cases]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CONC) as ex:
            list(ex.map(one, work))
        return len(work) / (time.perf_counter() - t0)


def sandboxed(src: str, cases, reps: int) -> float:
    from sandbox import Limits, Sandbox

    boxes = [Sandbox() for _ in range(CONC)]  # one per verifier process, as in a worker

    def worker(i):
        sb = boxes[i]
        with sb.submission("python", src, Limits(cpu_time_s=2)) as sub:
            for _ in range(reps // CONC + (1 if i < reps % CONC else 0)):
                for inp, out in cases:
                    r = sub.run(stdin=inp)
                    assert r.ok and r.stdout.split() == out.encode().split(), r

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONC) as ex:
        list(ex.map(worker, range(CONC)))
    dt = time.perf_counter() - t0
    for b in boxes:
        b.close()
    return reps * len(cases) / dt


def fork_limit(src: str, cases, reps: int) -> float:
    """Fork a child per run from this warm interpreter, rlimits only (no isolation)."""
    code = compile(src, "main.py", "exec")

    def one(case):
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(r_in, 0)
            os.dup2(w_out, 1)
            resource.setrlimit(resource.RLIMIT_CPU, (2, 3))
            import io

            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False))
            exec(code, {"__name__": "__main__"})
            sys.stdout.flush()
            os._exit(0)
        os.close(r_in)
        os.close(w_out)
        os.write(w_in, case[0])
        os.close(w_in)
        out = b""
        while chunk := os.read(r_out, 65536):
            out += chunk
        os.close(r_out)
        os.waitpid(pid, 0)
        assert out.split() == [x.encode() for x in case[1].split()]

    work = [c for _ in range(reps) for c in cases]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONC) as ex:
        list(ex.map(one, work))
    return len(work) / (time.perf_counter() - t0)


def main() -> None:
    trivial = [(b"3 4\n", "7")]
    rows = []
    for name, src, cases, reps in (("trivial program", TRIVIAL, trivial, 400), ("10-test stdio problem", TEN, ten_cases(), 40)):
        base = plain_subprocess(src, cases, reps)
        ours = sandboxed(src, cases, reps)
        lim = fork_limit(src, cases, reps)
        rows.append([name, f"{base:,.0f}", f"{ours:,.0f}", f"{ours / base:.2f}x", f"{lim:,.0f}", f"{ours / lim:.0%}"])
    print(f"machine: {machine()}; {CONC} runs at once\n")
    print(table(["workload", "plain subprocess runs/s", "verirl sandbox runs/s", "ratio", "fork-server limit runs/s", "of limit"], rows))


if __name__ == "__main__":
    main()
