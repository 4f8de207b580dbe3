"""The sandbox's one narrow interface: run this program under these limits, tell me what happened.

    sb = Sandbox()                     # starts the zygote, checks isolation (or raises)
    with sb.submission("cpp", source) as sub:
        if sub.compile_result and not sub.compile_result.ok: ...
        res = sub.run(stdin=b"1 2\\n", limits=Limits(cpu_time_s=1))

It knows nothing of HTTP, Redis, tests or rewards.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import itertools
import json
import marshal
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.framing import recv_msg
from sandbox.policy import (
    TOOLCHAIN_DIRS,
    Language,
    Limits,
    available_languages,
    for_source,
    limits_for,
    real_python,
    resolve_language,
)
from sandbox.supervisor import KeeperGone, supervise

SLOT_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / ".verirl-sandbox-slots"
WORK_BASE = Path(os.environ.get("TMPDIR", "/tmp")) / ".verirl-sandbox-work"
SLOT_UID_BASE = 61000
JUDGE_UID_BASE = 62000  # slot n's judge runs as JUDGE_UID_BASE + n: another uid than its program


class _ZygoteDied(RuntimeError):
    pass


@dataclass
class _Keeper:
    """Our end of one slot's keeper (see :mod:`sandbox.zygote`): built once, reused by every run in the slot."""

    sock: socket.socket
    pidfd: int
    cfg: dict
    cgroups: dict | None
    last: dict = field(default_factory=dict)  # the limits last written on its cgroups

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]

    def close(self) -> None:
        self.sock.close()  # it exits on EOF
        if not select.select([self.pidfd], [], [], 2)[0]:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        os.close(self.pidfd)
        for path in (self.cgroups or {}).values():
            for _ in range(20):  # empty once the keeper is gone
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


class IsolationUnavailable(RuntimeError):
    """The isolation asked for cannot be provided here; nothing was run."""


@dataclass
class RunResult:
    # ok | runtime_error | time_limit | memory_limit | output_limit | compile_error (Python syntax) | sandbox_error
    status: str
    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    cpu_s: float
    wall_s: float
    detail: str | None = None
    extra: dict = field(default_factory=dict)
    judge: bytes | None = None  # the judge's result channel (runs with a judge only)
    judge_log: bytes = b""  # the judge's stdout and stderr

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _classify(rep: dict, lim: Limits, out: dict[str, bytes]) -> RunResult:
    if rep.get("setup_error"):
        return RunResult("sandbox_error", None, None, b"", b"", 0.0, 0.0, rep["setup_error"])
    sig = rep["signal"]
    code = rep["exit_code"]
    err = out.get("stderr", b"")
    status = "ok"
    detail = None
    if rep["killed"] == "output_limit":
        status = "output_limit"
    elif rep["killed"] == "cpu_time" or rep["cpu_s"] > lim.cpu_time_s or sig == 24:  # SIGXCPU
        status = "time_limit"
    elif rep["oom"]:
        status = "memory_limit"
    elif rep["killed"] == "wall_time":
        status = "time_limit"
        detail = "wall-clock deadline (the program slept or waited)"
        if rep.get("idle"):
            detail = f"wall_time: no CPU used for {lim.idle_s:g} s (blocked on a pipe, a device or a lock)"
    elif rep.get("compile_error"):
        status = "compile_error"
        detail = rep["compile_error"]
    elif sig == 25:  # SIGXFSZ
        status = "output_limit"
        detail = "file size limit"
    elif "judge" not in out and (sig is not None or (code is not None and code != 0)):
        status = "runtime_error"
        low = err[-4000:]
        if b"MemoryError" in low or b"std::bad_alloc" in low or b"OutOfMemoryError" in low or b"heap out of memory" in low:
            status = "memory_limit"
    extra = {"max_rss_kb": rep.get("max_rss_kb"), "program_finished": rep.get("program_finished"), "judge_exit": rep.get("judge_exit")}
    return RunResult(
        status, code, sig, out.get("stdout", b""), err, rep["cpu_s"], rep["wall_s"], detail, extra,
        judge=out.get("judge"), judge_log=out.get("judge_log", b""),
    )


class _Slots:
    """One slot per concurrent run on this machine: its own uid and cgroup (flock-held).

    The locks are shared by every process on the machine and freed by the kernel when a
    holder dies. A run takes any free slot; when all are busy it waits for the FIRST one
    to free, whichever it is (polling every slot, a few milliseconds apart), never queued
    behind one chosen slot whose holder may run for seconds. Waiters in this process are
    served in arrival order (a ticket per waiter), so many short runs in one verifier do
    not overtake each other.
    """

    POLL_S = (0.001, 0.02)  # first and longest pause between sweeps of the slots

    def __init__(self, n: int) -> None:
        self.n = n
        SLOT_DIR.mkdir(parents=True, exist_ok=True)
        self._turn = threading.Condition()
        self._tickets = itertools.count()
        self._serving = 0

    def _try(self, start: int) -> tuple[int, int] | None:
        for k in range(self.n):
            i = (start + k) % self.n
            fd = os.open(SLOT_DIR / f"{i}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return i, fd
        return None

    def _take(self) -> tuple[int, int]:
        start = random.randrange(self.n)  # spread concurrent takers over the slots
        with self._turn:
            ticket = next(self._tickets)
            while ticket != self._serving:  # earlier waiters of this process first
                self._turn.wait()
        try:
            pause = self.POLL_S[0]
            while (got := self._try(start)) is None:
                time.sleep(pause)
                pause = min(self.POLL_S[1], pause * 2)
            return got
        finally:
            with self._turn:
                self._serving += 1
                self._turn.notify_all()

    @contextlib.contextmanager
    def acquire(self):
        i, fd = self._take()
        try:
            yield i
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Sandbox:
    """A zygote per Sandbox object; thread-safe (runs are serialised per zygote)."""

    def __init__(self, *, slots: int | None = None, require_cgroups: bool = False) -> None:
        self.require_cgroups = require_cgroups
        self._slots = _Slots(slots or os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket
        self.cgroups = False
        self.report: dict = {}
        self._keepers: dict[int, _Keeper] = {}  # slot -> its keeper (the slot's lock says who may use it)
        self._start()
        self.report = self._self_check()

    # ---------------------------------------------------------------- zygote

    def _start(self) -> None:
        if os.geteuid() != 0:
            raise IsolationUnavailable(
                "the sandbox needs root (or CAP_SYS_ADMIN) to create mount/PID/network namespaces; "
                "run the worker as root in its container with SYS_ADMIN, or not at all"
            )
        repo_fd = os.open(str(Path(__file__).resolve().parents[1]), os.O_RDONLY | os.O_DIRECTORY)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # the repository is reached through an inherited fd: no host path on the command line (PID 1's cmdline)
        boot = f"import sys; sys.path.insert(0, '/proc/self/fd/{repo_fd}'); from sandbox.zygote import main; main()"
        try:
            self._proc = subprocess.Popen(
                [real_python(), "-I", "-S", "-c", boot],
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                close_fds=True,
                pass_fds=(repo_fd,),
            )
        finally:
            theirs.close()
            os.close(repo_fd)
        self._ctrl = ours
        ours.sendall(b"?")
        ours.settimeout(30)
        try:
            pong = json.loads(ours.makefile("rb").readline() or b"{}")
        except (OSError, ValueError):
            pong = {}
        ours.settimeout(None)
        if not pong.get("ok"):
            raise IsolationUnavailable("sandbox zygote did not start")
        self.cgroups = bool(pong.get("cgroups"))
        if self.require_cgroups and not self.cgroups:
            raise IsolationUnavailable("cgroup memory/pids/cpuacct controllers are not writable here")

    def _keeper(self, slot: int, cfg: dict) -> _Keeper:
        """The slot's keeper (made by the zygote the first time, or when it is gone or its set-up differs)."""
        k = self._keepers.get(slot)
        if k is not None and k.cfg == cfg and k.alive():
            return k
        if k is not None:
            del self._keepers[slot]
            k.close()
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            raw = json.dumps(cfg).encode()
            try:
                socket.send_fds(self._ctrl, [b"K"], [theirs.fileno()])
                self._ctrl.sendall(struct.pack("!I", len(raw)) + raw)
                msg, fds, _, _ = socket.recv_fds(self._ctrl, 1, 1)
            except OSError:
                msg, fds = b"", []
            finally:
                theirs.close()
            if msg != b"P" or len(fds) != 1:
                ours.close()
                for fd in fds:
                    os.close(fd)
                self._kill_zygote()
                raise _ZygoteDied("sandbox zygote died")
        ours.settimeout(60)
        try:
            got = recv_msg(ours)
        except OSError:
            got = None
        ours.settimeout(None)
        ready = got[0] if got else {"error": "the keeper died while setting up"}
        if not ready.get("ok"):
            ours.close()
            os.close(fds[0])
            raise IsolationUnavailable(f"sandbox slot set-up failed: {ready.get('error')}")
        k = _Keeper(ours, fds[0], cfg, ready.get("cgroups"))
        self._keepers[slot] = k
        return k

    def _call(self, slot: int, cfg: dict, req: dict, blobs: dict[str, bytes], judge_input: bytes) -> tuple[dict, dict[str, bytes]]:
        for attempt in (1, 2):  # a keeper or zygote found dead: once more with new ones (nothing of the run started)
            try:
                k = self._keeper(slot, cfg)
                return supervise(k.sock, k.cgroups, k.last, dict(req), dict(blobs), judge_input)
            except (_ZygoteDied, KeeperGone) as exc:
                # the zygote is killed with the thread that started it (PR_SET_PDEATHSIG), e.g. a finished pool's
                if attempt == 2:
                    return {"setup_error": str(exc)}, {}
            except IsolationUnavailable as exc:
                return {"setup_error": str(exc)}, {}
        raise AssertionError("unreachable")

    def _kill_zygote(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        for k in list(self._keepers.values()):
            k.close()
        self._keepers.clear()
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._ctrl.close()
                self._proc.wait(timeout=2)
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    # ---------------------------------------------------------------- isolation check

    _PROBE = r"""
import os, socket, json
out = {"uid": os.getuid(), "pid": os.getpid(), "hostname": socket.gethostname(), "env": sorted(os.environ)}
st = open("/proc/self/status").read()
out["seccomp"] = [l.split()[1] for l in st.splitlines() if l.startswith("Seccomp:")][0]
out["no_new_privs"] = [l.split()[1] for l in st.splitlines() if l.startswith("NoNewPrivs:")][0]
out["caps"] = sorted({l.split()[1] for l in st.splitlines() if l.startswith("Cap")})
out["net_devices"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
out["shadow_visible"] = os.path.exists("/etc/shadow")
out["root_listing"] = sorted(os.listdir("/"))
out["userns"] = os.readlink("/proc/self/ns/user")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.connect(("192.0.2.1", 9))
    out["route"] = True
except OSError:
    out["route"] = False
print(json.dumps(out))
"""

    def _self_check(self) -> dict:
        res = self.run_python(self._PROBE, limits=Limits(cpu_time_s=5))
        if res.status != "ok":
            raise IsolationUnavailable(f"sandbox self-check failed: {res.status} {res.detail or res.stderr[-300:]!r}")
        got = json.loads(res.stdout)
        problems = []
        if got["seccomp"] != "2":
            problems.append("no seccomp filter")
        if got["no_new_privs"] != "1":
            problems.append("no_new_privs not set")
        if got.get("caps") != ["0000000000000000"]:
            problems.append(f"capabilities left: {got.get('caps')}")
        if got["route"]:
            problems.append("the sandbox has a network route")
        if got["shadow_visible"]:
            problems.append("/etc/shadow is visible")
        if got["pid"] > 10:
            problems.append("not in a fresh PID namespace")
        if got["uid"] < SLOT_UID_BASE:
            problems.append("program runs with a host uid below the slot range")
        if set(got["net_devices"]) - {"lo"}:
            problems.append(f"network devices present: {got['net_devices']}")
        if problems:
            raise IsolationUnavailable("sandbox isolation incomplete: " + "; ".join(problems))
        return {
            "namespaces": ["user", "pid", "net", "mount", "ipc", "uts"],
            "seccomp": "deny-list (x86_64), no_new_privs",
            "network": "none (own network namespace, loopback down)",
            "cgroups": "v1 memory+pids+cpuacct per slot" if self.cgroups else "unavailable (rlimits only)",
            "rlimits": ["cpu", "address_space", "processes", "file_size", "open_files", "stack", "core"],
            "uid": "one unprivileged uid per concurrent slot",
            "capabilities": "none (bounding, ambient, permitted sets emptied)",
            "judge": "a second sandboxed process under another uid, not dumpable, when asked (call/assert tests)",
            "slots": self._slots.n,
            "filesystem": "read-only runtime dirs, private tmpfs /tmp, no host home or /etc secrets",
            "environment": "empty (PATH, HOME, LANG, TMPDIR only)",
        }

    # ---------------------------------------------------------------- runs

    def _run(
        self,
        lim: Limits,
        *,
        argv=None,
        python_source=None,
        stdin=b"",
        workdir=None,
        work_writable=False,
        judge_source: str | None = None,
        judge_input: bytes = b"",
        filename: str = "main.py",
        python_after: str | None = None,
        links: list[str] | None = None,
    ) -> RunResult:
        cfg = {"uid": None, "cgroups": self.cgroups, "extra_ro": _python_dirs() + TOOLCHAIN_DIRS}
        req = {
            "limits": lim.to_dict(),
            "argv": argv,
            "workdir": str(workdir) if workdir else None,
            "work_writable": work_writable,
            "judge": judge_source is not None,
            "filename": filename,
            "links": list(links or []),
        }
        blobs = {"stdin": stdin or b""}
        if python_source is not None:
            blobs["python_source"] = python_source.encode("utf-8", "surrogateescape")
        if python_after is not None:
            blobs["python_after"] = _compiled(python_after, "<serve>")
        if judge_source is not None:
            blobs["judge_code"] = _compiled(judge_source, "judge.py")
        with self._slots.acquire() as slot:
            cfg["uid"] = req["uid"] = SLOT_UID_BASE + slot
            req["judge_uid"] = JUDGE_UID_BASE + slot
            rep, out = self._call(slot, cfg, req, blobs, judge_input if judge_source is not None else b"")
        return _classify(rep, lim, out)

    def run_python(self, source: str, stdin: bytes = b"", limits: Limits | None = None) -> RunResult:
        """Run Python source forked from the warm zygote (no interpreter start-up)."""
        return self._run(limits or Limits(), python_source=source, stdin=stdin)

    @contextlib.contextmanager
    def submission(self, language: str | Language, source: str, limits: Limits | None = None):
        lang = resolve_language(language) if isinstance(language, str) else language
        if lang is None or lang.name not in available_languages():
            raise ValueError(f"language {language!r} is not available")
        lang = for_source(lang, source)
        WORK_BASE.mkdir(parents=True, exist_ok=True)
        os.chmod(WORK_BASE, 0o711)
        work = Path(tempfile.mkdtemp(prefix="sub-", dir=WORK_BASE))
        os.chmod(work, 0o755)
        try:
            (work / lang.source_file).write_text(source)
            os.chmod(work / lang.source_file, 0o644)
            yield Submission(self, lang, source, work, limits or Limits())
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def languages(self) -> list[str]:
        return sorted(available_languages())


@functools.lru_cache(maxsize=16)
def _compiled(source: str, filename: str) -> bytes:
    """Our own harness code (never a caller's or a model's), compiled once here instead of in every run."""
    return marshal.dumps(compile(source, filename, "exec"))


def _python_dirs() -> list[str]:
    dirs = {sys.base_prefix, str(Path(sys.base_prefix).resolve())}
    return sorted(d for d in dirs if d and os.path.isdir(d))


class Submission:
    def __init__(self, sb: Sandbox, lang: Language, source: str, work: Path, base: Limits) -> None:
        self.sb = sb
        self.lang = lang
        self.source = source
        self.work = work
        self.base = base
        self.compile_result: RunResult | None = None
        self.compile_limits = limits_for(lang, base, compile_step=True)  # its own, not the run's
        if lang.compile:
            self.compile_result = sb._run(self.compile_limits, argv=list(lang.compile), workdir=work, work_writable=True)

    @property
    def compiled(self) -> bool:
        return self.compile_result is None or self.compile_result.ok

    def run(
        self,
        stdin: bytes = b"",
        limits: Limits | None = None,
        source: str | None = None,
        judge: str | None = None,
        judge_input: bytes = b"",
        after: str | None = None,
        writable: bool = False,
        links: list[str] | None = None,
    ) -> RunResult:
        """One run of the program; ``source`` (Python only) replaces the program text for this run.

        With ``judge`` (Python source), a second sandboxed process runs it beside the program, under
        another uid and not dumpable: the program's fds 3 (in) and 4 (out) are connected to the judge's
        fds 5 (in) and 4 (out); the judge alone writes fd 3, returned as ``RunResult.judge``. The judge's
        stdin is ``judge_input``, which never enters the program's address space. ``after`` (Python
        source, ours) runs in the program's globals once the program's own code has run. Both are
        compiled once, here. ``writable``: the program may write its working directory, and what it
        leaves there is copied back to ``self.work`` (SandboxFusion's ``fetch_files``); ``links``: top-level names
        ``/NAME`` made links to ``/work/NAME`` (absolute paths a request names; never over an existing one).
        """
        lim = limits_for(self.lang, limits or self.base)
        if self.lang.inprocess_python:
            return self.sb._run(
                lim, python_source=source if source is not None else self.source, stdin=stdin, workdir=self.work,
                judge_source=judge, judge_input=judge_input, python_after=after, work_writable=writable, links=links,
                filename=self.lang.source_file if source is None else "solution.py",  # a syntax error quotes this text
            )
        if judge is not None:
            raise ValueError("a judge runs beside in-process Python programs only")
        heap = max(64, lim.memory_mb - 128)
        argv = [a.replace("{python}", real_python()).replace("{heap_mb}", str(heap)) for a in self.lang.run]
        return self.sb._run(lim, argv=argv, stdin=stdin, workdir=self.work, work_writable=writable, links=links)
