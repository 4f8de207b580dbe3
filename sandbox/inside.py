"""The processes of one run, inside its slot: init (I), the program (P) and the judge (J).

    I   init       forked by the slot's keeper (see :mod:`sandbox.zygote`) into a new PID
                   namespace, of which it is PID 1, and given its own mount namespace: a
                   fresh /proc, fresh tmpfs /tmp, /dev/shm and /work over the slot's
                   read-only root, this run's ``links``; removes any SysV and POSIX IPC
                   object left in the slot's IPC namespace; reads its request (program
                   text, argv, limits) from its own socket; /work is a tmpfs the client
                   made and filled, moved into place; forks P (and J) and waits. When the
                   last of them exits it kills everything left in the namespace (daemons,
                   setsid children, fork bombs), reports the statuses and exits: the
                   namespaces die with it.
    P   program    rlimits, slot uid, its own user namespace with every capability
                   dropped (bounding set included), no_new_privs, seccomp; then exec of
                   the runtime, or (Python) the source compiled and run in this
                   already-warm interpreter.
    J   judge      (only when asked) a second sandboxed Python with another uid and not
                   dumpable, in its own mount namespace (private /tmp and /dev/shm, an
                   empty read-only /work, the read-only root as working directory): the
                   program can neither read, trace nor signal it. It talks to the program
                   over two pipes and alone holds the result channel. Its input (tests,
                   expected values) comes on its own stdin, from the client, so it is never
                   in the program's address space.

I is forked from a keeper that never saw a request, P and J from I: nothing one run
saw is in the memory the next run is forked from.

Set-up failures and Python syntax errors are reported on a pipe closed before the
program's own code runs (exec, or the first line of the Python source): a program
cannot forge them with exit codes or stderr text.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import marshal
import math
import os
import re
import resource
import signal
import socket
import sys

from sandbox import linux
from sandbox.framing import recv_msg
from sandbox.policy import Limits

SANDBOX_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
SETUP_FD = 6  # the set-up channel's number in P/J (closed before the program's code runs)
NOSD = linux.MS_NOSUID | linux.MS_NODEV
OOM_SCORE_ADJ: str | None = None  # set in the keeper when it lowered its own score
_LINK = re.compile(r"[A-Za-z0-9._-]{1,64}")


# --------------------------------------------------------------------------- P / J: the sandboxed processes

def _confine(uid: int, lim: Limits, fdmap: dict[int, int], setup_src: int, *, dumpable: bool, cwd: str) -> None:
    """Everything between fork and the untrusted code: fds, rlimits, uid, user namespace, caps, seccomp."""
    tmp = {t: fcntl.fcntl(src, fcntl.F_DUPFD_CLOEXEC, 100) for t, src in fdmap.items()}
    setup_tmp = fcntl.fcntl(setup_src, fcntl.F_DUPFD_CLOEXEC, 100)
    for t, src in tmp.items():
        os.dup2(src, t, inheritable=True)
    os.dup2(setup_tmp, SETUP_FD, inheritable=False)
    os.closerange(SETUP_FD + 1, 65536)
    for t in range(SETUP_FD):
        if t not in fdmap:
            try:
                os.close(t)
            except OSError:
                pass
    os.chdir(cwd)
    cpu = max(1, math.ceil(lim.cpu_time_s + 0.5))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if lim.address_space_limit:
        asz = (lim.memory_mb + lim.address_space_extra_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (asz, asz))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim.max_processes, lim.max_processes))
    fsz = lim.file_size_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
    resource.setrlimit(resource.RLIMIT_NOFILE, (lim.open_files, lim.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # the soft stack limit as asked; the program may raise it (the memory limits bound the stack anyway)
    # (stack_mb 0: unlimited soft limit, so glibc gives each new thread its small default stack)
    resource.setrlimit(resource.RLIMIT_STACK, (lim.stack_mb * 1024 * 1024 if lim.stack_mb else resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    if OOM_SCORE_ADJ is not None:  # the keeper's and init's -1000 is theirs: the program is killable
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(OOM_SCORE_ADJ)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    linux.prctl(linux.PR_SET_DUMPABLE, 1)  # reset by the uid change; /proc/self must be ours for the maps
    linux.unshare(linux.CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{uid} {uid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    linux.drop_capabilities()
    if not dumpable:
        linux.prctl(linux.PR_SET_DUMPABLE, 0)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    linux.install_seccomp()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _judge_mounts(uid: int) -> None:
    """The judge's own mount namespace: a private /tmp and /dev/shm, and the program's /work gone.

    Nothing the program writes is where the judge can read or import it; the judge's working
    directory is the read-only root.
    """
    linux.unshare(linux.CLONE_NEWNS)
    for path, size in (("/tmp", "4m"), ("/dev/shm", "1m")):
        linux.mount("tmpfs", path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC, f"size={size},mode=700,uid={uid},gid={uid}")
    linux.mount("tmpfs", "/work", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC | linux.MS_RDONLY, "size=4k,mode=555")


def _setup_failed(kind: str, text: str, code: int) -> None:
    try:
        os.write(SETUP_FD, json.dumps({kind: text[-4000:]}).encode())
    finally:
        os._exit(code)


def _child(role: str, req: dict, blobs: dict[str, bytes], lim: Limits, fds: dict[str, int]) -> None:
    """C3 (role "program") or C4 (role "judge"). Never returns."""
    try:
        if role == "program":
            fdmap = {0: fds["in_r"], 1: fds["out_w"], 2: fds["err_w"]}
            if req.get("judge"):
                fdmap.update({3: fds["j2p_r"], 4: fds["p2j_w"]})
            uid, setup, dumpable = req["uid"], fds["setup_w"], True
            cwd = "/work" if req.get("workdir") else "/tmp"
        else:
            fdmap = {0: fds["jin_r"], 1: fds["jlog_w"], 2: fds["jlog_w"], 3: fds["jres_w"], 4: fds["j2p_w"], 5: fds["p2j_r"]}
            uid, setup, dumpable, cwd = req["judge_uid"], fds["jsetup_w"], False, "/"
            _judge_mounts(uid)
        _confine(uid, lim, fdmap, setup, dumpable=dumpable, cwd=cwd)
    except BaseException as exc:  # noqa: BLE001 - any set-up failure is ours, reported on our channel
        try:
            os.write(fds["jsetup_w" if role == "judge" else "setup_w"], json.dumps({"setup_error": f"{type(exc).__name__}: {exc}"}).encode())
        finally:
            os._exit(121)
    if role == "judge":
        _run_python(None, "judge.py", code=marshal.loads(blobs["judge_code"]))
    if blobs.get("python_source") is not None:
        after = marshal.loads(blobs["python_after"]) if blobs.get("python_after") else None
        _run_python(blobs["python_source"].decode(errors="surrogateescape"), req.get("filename") or "main.py", after=after)
    try:
        os.execve(req["argv"][0], req["argv"], dict(SANDBOX_ENV))
    except OSError as exc:
        _setup_failed("setup_error", f"exec {req['argv'][0]}: {exc}", 122)


def _std_streams() -> None:
    """sys.stdin/stdout/stderr as CPython builds them for pipes (buffered, .buffer.raw exists)."""
    import io

    sin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8", errors="surrogateescape")
    sout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="surrogateescape")
    serr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8", errors="backslashreplace", write_through=True)
    sys.stdin, sys.stdout, sys.stderr = sin, sout, serr
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sin, sout, serr  # type: ignore[misc]


def _run_python(source: str | None, filename: str, code=None, after=None) -> None:
    """Compile and run Python source as __main__ in this (fresh, forked) interpreter. Never returns.

    ``code``: our own code object, compiled by the client (the judge), instead of ``source``.
    ``after``: our own code object run in the same globals once the source has run (a serving harness).
    """
    import builtins
    import traceback

    os.environ.clear()
    os.environ.update(SANDBOX_ENV)
    prefix = sys.base_prefix
    sys.path[:] = ["/work"] + [p for p in sys.path if p.startswith(prefix)]
    sys.argv[:] = [filename]
    _std_streams()
    try:
        if code is None:
            code = compile(source, filename, "exec")
    except (SyntaxError, ValueError) as exc:  # what `python main.py` prints, and exit status 1
        text = "".join(traceback.format_exception_only(type(exc), exc))
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        _setup_failed("compile_error", text, 1)
    os.close(SETUP_FD)
    del source
    g = {"__name__": "__main__", "__file__": filename, "__builtins__": builtins}
    status = 0
    try:
        exec(code, g)
        if after is not None:
            exec(after, g)
    except SystemExit as e:
        c = e.code
        status = c if isinstance(c, int) else (0 if c is None else 1)
        if not isinstance(c, int) and c is not None:
            print(c, file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - the program's own exception: print it as Python does
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # hide this harness frame
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        status = status or 120
    os._exit(status & 0xFF)


# --------------------------------------------------------------------------- I: init

def _fresh_mounts(req: dict, lim: Limits, baseline: frozenset[str], work: int) -> None:
    """This run's own mount namespace over the slot's root: /proc, /tmp, /dev/shm, /work, its links."""
    linux.unshare(linux.CLONE_NEWNS | (linux.CLONE_NEWNET if lim.loopback else 0))
    if lim.loopback:  # asked for: lo up in the run's own (otherwise empty) network namespace
        linux.loopback_up()
    linux.mount("proc", "/proc", "proc", NOSD | linux.MS_NOEXEC)
    linux.mount("tmpfs", "/tmp", "tmpfs", NOSD, f"size={lim.tmpfs_mb}m,mode=1777")
    linux.mount("tmpfs", "/dev/shm", "tmpfs", NOSD, "size=16m,mode=1777")
    # the client made /work (a tmpfs it filled, never a host path) and keeps a handle on it
    linux.move_mount(work, "/work")
    if not req.get("work_writable"):
        linux.mount(None, "/work", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | NOSD)
    # /NAME -> /work/NAME: absolute paths a SandboxFusion request names; an earlier run's are removed
    links = [n for n in req.get("links") or () if isinstance(n, str) and _LINK.fullmatch(n) and n not in (".", "..") and n not in baseline]
    stray = [n for n in os.listdir("/") if n not in baseline]
    if links or stray:
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | NOSD)
        for name in stray:
            os.unlink("/" + name)
        for name in dict.fromkeys(links):
            os.symlink(f"/work/{name}", f"/{name}")
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | NOSD)


def clear_ipc(mq_fd: int) -> None:
    """No IPC object of an earlier run in the slot's IPC namespace: SysV (shm, sem, msg) and POSIX queues."""
    linux.remove_sysv_ipc()
    for name in os.listdir(mq_fd):
        os.unlink(name, dir_fd=mq_fd)


def run_init(sock: socket.socket, fds_in: list[int], mq_fd: int, baseline: frozenset[str]) -> None:
    """I: PID 1 of the run's namespace. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        got = recv_msg(sock)
        if got is None:
            os._exit(0)
        req, blobs = got
        sock.close()
        fds = dict(zip(req["fds"], fds_in, strict=True))
    except BaseException:  # noqa: BLE001 - the client sees the socket close with no report
        os._exit(120)
    stat_w = fds.pop("stat_w")
    try:
        lim = Limits.from_dict(req["limits"])
        work = fds.pop("work")
        _fresh_mounts(req, lim, baseline, work)
        os.close(work)
        clear_ipc(mq_fd)
    except BaseException as exc:  # noqa: BLE001
        os.write(stat_w, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os._exit(120)
    judge = bool(req.get("judge"))
    pids: dict[int, str] = {}
    for role in ("program", "judge") if judge else ("program",):
        pid = os.fork()
        if pid == 0:
            os.close(stat_w)
            _child(role, req, blobs, lim, fds)
        pids[pid] = role
    for fd in fds.values():
        os.close(fd)
    blobs.clear()
    status: dict[str, int | None] = {"program": None, "judge": None}
    last = "judge" if judge else "program"
    while True:
        try:
            got_pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if got_pid in pids:
            status[pids[got_pid]] = st
            if pids[got_pid] == last:
                break
    # what the kernel does when PID 1 exits, done here so that we can still answer: nothing outlives the run
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with contextlib.suppress(OSError):
        clear_ipc(mq_fd)  # not kept in memory until the slot's next run (which clears them too, first)
    os.write(stat_w, json.dumps({**status, "cpu_s": ru.ru_utime + ru.ru_stime, "max_rss_kb": ru.ru_maxrss}).encode())
    os._exit(0)  # and the run's namespaces with us
