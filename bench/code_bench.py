"""Code runs/second: a plain subprocess.run per test (what most RL repos do) vs verirl's sandbox.

Workloads: a trivial program and a typical 10-test stdio problem (sandbox runs
directly), and the judged formats through the verifier (``run_tests``): a
10-case call problem and a HumanEval-style assert test. The sandbox runs with
full isolation (namespaces, pivot_root, cgroups, seccomp, rlimits). Also
measured the same way: the fork-server limit (fork from a warm interpreter,
rlimits only, no namespaces), the ceiling a zygote design can reach.

``--before DIR`` also measures another checkout of this repository (e.g. the
commit before a change: ``git worktree add /tmp/code-base <commit>``) in the same
run, with the same workloads, and prints the ratio.

``--readline`` times the competitive-programming idiom
``input = sys.stdin.buffer.readline`` over 300k lines in the sandbox against
plain CPython.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine, table

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = "print(sum(map(int, input().split())))\n"
TEN = "import sys\nn = int(sys.stdin.readline())\nxs = list(map(int, sys.stdin.readline().split()))\nprint(sum(sorted(xs)[: n // 2]))\n"
CONC = os.cpu_count() or 2
CALL_PROGRAM = "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, n in enumerate(nums):\n            if target - n in seen:\n                return [seen[target - n], i]\n            seen[n] = i\n"
CALL_TESTS = {"format": "call", "fn_name": "twoSum", "cases": [{"args": [[k, 7, 11, 15 + k], 7 + k], "expected": [0, 1]} for k in range(10)]}
ASSERT_PROGRAM = "def add(a, b):\n    return a + b\n"
ASSERT_TESTS = {"format": "assert", "entry_point": "add", "test": "def check(candidate):\n" + "".join(f"    assert candidate({i}, {i}) == {2 * i}\n" for i in range(10))}


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


# One measuring child per core, for any checkout: `python code_bench.py --child REPO WORKLOAD REPS`.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
workload, reps = sys.argv[2], int(sys.argv[3])
spec = json.loads(sys.stdin.read())
cg = None
try:  # our own CPU-accounting cgroup: the zygote, supervisors, judges and programs all count (load-independent)
    own = [l.split(":", 2)[2].strip() for l in open("/proc/self/cgroup") if "cpuacct" in l.split(":")[1].split(",")][0]
    cg = f"/sys/fs/cgroup/cpuacct{own.rstrip('/')}/code-bench-{os.getpid()}"
    os.makedirs(cg, exist_ok=True)
    open(cg + "/cgroup.procs", "w").write(str(os.getpid()))
except (OSError, IndexError):
    cg = None
usage = lambda: int(open(cg + "/cpuacct.usage").read()) if cg else 0
if workload in ("call", "assert"):
    from verirl.code import run_tests
    run_tests(spec["program"], "python", spec["tests"], {})
    u0 = usage()
    t0 = time.perf_counter()
    for _ in range(reps):
        out = run_tests(spec["program"], "python", spec["tests"], {})
        assert out["code_verdict"] == "accepted", out
    dt = time.perf_counter() - t0
    u1 = usage()
    n = reps * len(spec["tests"].get("cases") or [None])
else:
    from sandbox import Limits, Sandbox
    sb = Sandbox()
    with sb.submission("python", spec["src"], Limits(cpu_time_s=2)) as sub:
        sub.run(stdin=spec["cases"][0][0].encode())
        u0 = usage()
        t0 = time.perf_counter()
        for _ in range(reps):
            for inp, out in spec["cases"]:
                r = sub.run(stdin=inp.encode())
                assert r.ok and r.stdout.split() == out.encode().split(), r
        dt = time.perf_counter() - t0
        u1 = usage()
    n = reps * len(spec["cases"])
    sb.close()
print(json.dumps({"runs": n, "seconds": dt, "cpu_s": (u1 - u0) / 1e9}))
"""


def sandboxed(repo: Path, workload: str, spec: dict, reps: int) -> tuple[float, float]:
    """(runs/s, CPU ms per run) of CONC concurrent verifier processes of the checkout at ``repo``."""
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(repo), workload, str(reps)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(CONC)
    ]
    for p in procs:
        p.stdin.write(json.dumps(spec))
        p.stdin.close()
    outs = [json.loads(p.stdout.read()) for p in procs]
    for p in procs:
        p.wait()
        _remove_cgroup(p.pid)
    return sum(o["runs"] / o["seconds"] for o in outs), 1000 * sum(o["cpu_s"] for o in outs) / sum(o["runs"] for o in outs)


def _remove_cgroup(pid: int) -> None:
    """The child's cgroup (and the slot cgroups its zygote made under it), once empty."""
    try:
        own = [ln.split(":", 2)[2].strip() for ln in open("/proc/self/cgroup") if "cpuacct" in ln.split(":")[1].split(",")][0]
    except (OSError, IndexError):
        return
    top = Path(f"/sys/fs/cgroup/cpuacct{own.rstrip('/')}/code-bench-{pid}")
    for _ in range(50):  # the child's zygote dies just after it (PDEATHSIG): wait for the cgroup to empty
        if not top.exists():
            return
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
            try:
                d.rmdir()
            except OSError:
                pass
        time.sleep(0.1)


def compare(before: Path | None, workload: str, spec: dict, reps: int, rounds: int = 3) -> tuple:
    """Before and now measured in alternating rounds (the machine's load drifts); the best round of each."""
    b, o = [], []
    for _ in range(rounds):
        if before:
            b.append(sandboxed(before, workload, spec, reps))
        o.append(sandboxed(REPO, workload, spec, reps))
    best = lambda xs: (max(x[0] for x in xs), min(x[1] for x in xs)) if xs else (None, None)  # noqa: E731
    return best(b), best(o)


def _cells(before, ours) -> list[str]:
    (brate, bcpu), (orate, ocpu) = before, ours
    return [
        f"{brate:,.0f}" if brate else "-",
        f"{orate:,.0f}",
        f"{orate / brate:.2f}x" if brate else "-",
        f"{bcpu:.1f}" if bcpu else "-",
        f"{ocpu:.1f}" if ocpu else "-",
    ]


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


def readline_bench() -> None:
    from sandbox import Limits, Sandbox

    n = 300_000
    data = (f"{n}\n" + "".join(f"{i} {i}\n" for i in range(n))).encode()
    prog = "import sys\ninput = sys.stdin.buffer.readline\nn = int(input())\ns = 0\nfor _ in range(n):\n    a, b = input().split()\n    s += int(a) + int(b)\nprint(s)\n"
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "main.py"
        f.write_text(prog)
        t0 = time.perf_counter()
        r = subprocess.run([str(Path(sys.executable).resolve()), "-I", "-S", str(f)], input=data, capture_output=True)
        plain = time.perf_counter() - t0
    sb = Sandbox()
    res = sb.run_python(prog, stdin=data, limits=Limits(cpu_time_s=20))
    sb.close()
    assert res.ok and res.stdout == r.stdout, (res, r.stdout)
    print(table(["300k lines, input = sys.stdin.buffer.readline", "plain CPython wall s", "sandbox wall s", "sandbox CPU s", "ratio"],
                [["sum of pairs", f"{plain:.2f}", f"{res.wall_s:.2f}", f"{res.cpu_s:.2f}", f"{res.wall_s / plain:.2f}x"]]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, help="another checkout to measure in the same run (e.g. /tmp/code-base)")
    ap.add_argument("--readline", action="store_true", help="time sys.stdin.buffer.readline over 300k lines against plain CPython")
    args = ap.parse_args()
    if args.readline:
        print(f"machine: {machine()}\n")
        readline_bench()
        return
    trivial = [(b"3 4\n", "7")]
    rows = []
    for name, src, cases, reps in (("trivial program", TRIVIAL, trivial, 100), ("10-test stdio problem", TEN, ten_cases(), 10)):
        spec = {"src": src, "cases": [[c[0].decode(), c[1]] for c in cases]}
        base = plain_subprocess(src, cases, reps)
        before, ours = compare(args.before, "stdio", spec, reps // CONC)
        lim = fork_limit(src, cases, reps)
        rows.append([name, f"{base:,.0f}", *_cells(before, ours), f"{ours[0] / base:.2f}x", f"{lim:,.0f}"])
    for name, workload, spec, reps in (
        ("10-case call problem (judge process)", "call", {"program": CALL_PROGRAM, "tests": CALL_TESTS}, 2),
        ("assert test, 10 asserts (judge process)", "assert", {"program": ASSERT_PROGRAM, "tests": ASSERT_TESTS}, 10),
    ):
        before, ours = compare(args.before, workload, spec, reps)
        rows.append([name, "-", *_cells(before, ours), "-", "-"])
    print(f"machine: {machine()}; {CONC} runs at once; before = {args.before or 'not measured'}\n")
    print(table(["workload", "plain subprocess runs/s", "before runs/s", "verirl runs/s", "vs before", "before CPU ms/run", "verirl CPU ms/run", "vs plain", "fork-server limit runs/s"], rows))


if __name__ == "__main__":
    main()
