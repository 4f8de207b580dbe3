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

Also in the same run: the trivial program's runs/s as a share of the fork-server
limit (the bound a sandbox that forks per run can approach), and ``POST
/run_code`` latency (p50, p95) with two calls at once through a real server
(``verirl serve``, embedded mode, two verifier processes) over HTTP, with the
server's CPU per call (every process of it: API, verifiers, zygotes, keepers,
runs) from a CPU-accounting cgroup. ``--no-api`` skips the server.

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
    from verirl.code.grader import run_tests
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
    _remove_tree(Path(f"/sys/fs/cgroup/cpuacct{own.rstrip('/')}/code-bench-{pid}"))  # once its zygote is gone too


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


# A server of any checkout, in its own CPU-accounting cgroup: `python -c SERVE REPO PORT`.
SERVE = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
sys.argv = ["verirl", "serve", "--port", sys.argv[2]]
from verirl_app import main
sys.exit(main())
"""
RUN_CODE = {"code": TRIVIAL, "stdin": "3 4\n", "language": "python"}


def _cpu_cgroup(name: str) -> Path | None:
    try:
        own = [ln.split(":", 2)[2].strip() for ln in open("/proc/self/cgroup") if "cpuacct" in ln.split(":")[1].split(",")][0]
        cg = Path(f"/sys/fs/cgroup/cpuacct{own.rstrip('/')}/{name}")
        cg.mkdir(exist_ok=True)
        return cg
    except (OSError, IndexError):
        return None


def api_latency(repo: Path, calls: int) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, server CPU ms per call) of POST /run_code, CONC calls at once, real server of ``repo``."""
    import httpx

    from tests import procs

    cg = _cpu_cgroup(f"code-bench-api-{os.getpid()}")
    usage = (lambda: int((cg / "cpuacct.usage").read_text())) if cg else (lambda: 0)  # noqa: E731
    with tempfile.TemporaryDirectory() as d:
        port = procs.free_port()
        env = procs.clean_env(VERIRL_DATA_DIR=f"{d}/data", VERIRL_WORKERS="2")
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(repo), str(port)], env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: (cg / "cgroup.procs").write_text(str(os.getpid()))) if cg else None,  # noqa: PLW1509
        )
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=60) as client:
                for _ in range(600):
                    try:
                        if client.get(url + "/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)

                def one(_: int) -> float:
                    t0 = time.perf_counter()
                    r = client.post(url + "/run_code", json=RUN_CODE)
                    dt = time.perf_counter() - t0
                    body = r.json()
                    assert body["status"] == "Success" and body["run_result"]["stdout"] == "7\n", body
                    return dt

                with ThreadPoolExecutor(CONC) as ex:
                    list(ex.map(one, range(8 * CONC)))  # warm: both verifiers, their zygotes and slots
                    u0 = usage()
                    lat = sorted(ex.map(one, range(calls)))
                    u1 = usage()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if cg:
        _remove_tree(cg)
    return 1000 * lat[len(lat) // 2], 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.95))], (u1 - u0) / 1e6 / calls


def _remove_tree(top: Path) -> None:
    for _ in range(50):  # its processes die just after it: wait for the cgroups to empty
        if not top.exists():
            return
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
            try:
                d.rmdir()
            except OSError:
                pass
        time.sleep(0.1)


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
    ap.add_argument("--no-api", action="store_true", help="skip the /run_code latency through a real server")
    ap.add_argument("--api-calls", type=int, default=400, help="timed /run_code calls per checkout")
    args = ap.parse_args()
    if args.readline:
        print(f"machine: {machine()}\n")
        readline_bench()
        return
    trivial = [(b"3 4\n", "7")]
    rows = []
    bound = []
    for name, src, cases, reps in (("trivial program", TRIVIAL, trivial, 100), ("10-test stdio problem", TEN, ten_cases(), 10)):
        spec = {"src": src, "cases": [[c[0].decode(), c[1]] for c in cases]}
        base = plain_subprocess(src, cases, reps)
        before, ours = compare(args.before, "stdio", spec, reps // CONC)
        lim = fork_limit(src, cases, reps)
        rows.append([name, f"{base:,.0f}", *_cells(before, ours), f"{ours[0] / base:.2f}x", f"{lim:,.0f}"])
        bound.append([name, f"{lim:,.0f}", f"{before[0] / lim:.0%}" if before[0] else "-", f"{ours[0] / lim:.0%}"])
    for name, workload, spec, reps in (
        ("10-case call problem (judge process)", "call", {"program": CALL_PROGRAM, "tests": CALL_TESTS}, 2),
        ("assert test, 10 asserts (judge process)", "assert", {"program": ASSERT_PROGRAM, "tests": ASSERT_TESTS}, 10),
    ):
        before, ours = compare(args.before, workload, spec, reps)
        rows.append([name, "-", *_cells(before, ours), "-", "-"])
    print(f"machine: {machine()}; {CONC} runs at once; before = {args.before or 'not measured'}\n")
    print(table(["workload", "plain subprocess runs/s", "before runs/s", "verirl runs/s", "vs before", "before CPU ms/run", "verirl CPU ms/run", "vs plain", "fork-server limit runs/s"], rows))
    print()
    print(table(["share of the fork bound (same run)", "fork bound runs/s", "before", "verirl"], bound))
    if not args.no_api:
        lat = []
        for label, repo in ([("before", args.before)] if args.before else []) + [("verirl", REPO)]:
            p50, p95, cpu = api_latency(repo, args.api_calls)
            lat.append([label, f"{p50:.1f}", f"{p95:.1f}", f"{cpu:.1f}"])
        print()
        print(table([f"POST /run_code, trivial Python, {CONC} at once, real server", "p50 ms", "p95 ms", "server CPU ms/call"], lat))


if __name__ == "__main__":
    main()
