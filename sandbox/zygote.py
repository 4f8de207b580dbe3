"""The sandbox fork server ("zygote") and the processes of every run.

The zygote is a Python process started with an empty environment and a command
line that names no host path. It never runs untrusted code and never receives
a request, a test or a report: its only input is "fork", with one end of a
fresh socket pair the client made for that run. It forks, hands the client a
pidfd of the child, and forgets the socket. So nothing one run saw is in the
memory the next run is forked from.

    C1 supervisor   (child of the zygote) reads its own request over its own
                    socket; new mount, PID, network, IPC, UTS namespaces; builds
                    the read-only root on a tmpfs (the work directory is copied
                    in, never bind-mounted); feeds stdin, reads the program's
                    output with caps; enforces the deadlines; answers on the
                    socket. Its own CPU time from the start of the run (draining
                    output, feeding input) is added to the run's, so what it
                    does on the run's behalf is charged to the run.
    C2 init         PID 1 of the new PID namespace: mounts /proc, pivots into
                    the new root, forks the program (and the judge) and waits.
                    When C2 exits the kernel kills everything left in the
                    namespace (daemons, setsid children, fork bombs).
    C3 program      rlimits, slot uid, its own user namespace with every
                    capability dropped (bounding set included), no_new_privs,
                    seccomp; then exec of the runtime, or (Python) the source
                    compiled and run in this already-warm interpreter.
    C4 judge        (only when asked) a second sandboxed Python with another
                    uid and not dumpable: the program can neither read, trace
                    nor signal it. It talks to the program over two pipes and
                    alone holds the result channel. Its input (tests, expected
                    values) is read by C1 only after C2 is forked, so it is never
                    in the program's address space.

Set-up failures and Python syntax errors are reported on a pipe closed before
the program's own code runs (exec, or the first line of the Python source): a
program cannot forge them with exit codes or stderr text.

Wire format between client and C1 (both our code): a JSON header (4-byte
length) followed by raw byte blobs whose names and sizes the header lists.
"""

from __future__ import annotations

import fcntl
import json
import marshal
import math
import os
import re
import resource
import select
import signal
import socket
import stat as stat_mod
import struct
import sys
import time

from sandbox import linux
from sandbox.policy import DEVICES, READONLY_PATHS, Limits

STAGE = "/tmp/.verirl-sandbox-root"
SANDBOX_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
SETUP_FD = 6  # the set-up channel's number in C3/C4 (closed before the program's code runs)
JUDGE_RESULT_CAP = 64 * 1024
JUDGE_LOG_CAP = 64 * 1024
SETUP_CAP = 64 * 1024
WARM_MODULES = ("traceback", "base64", "re", "math", "collections", "itertools", "functools", "heapq", "bisect", "importlib")


# --------------------------------------------------------------------------- framing

def send_msg(sock: socket.socket, header: dict, blobs: dict[str, bytes] | None = None) -> None:
    blobs = blobs or {}
    head = dict(header, _blobs=[[k, len(v)] for k, v in blobs.items()])
    data = json.dumps(head).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)
    for v in blobs.values():
        if v:
            sock.sendall(v)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    if n == 0:
        return b""
    data = sock.recv(n, socket.MSG_WAITALL)  # one allocation of n bytes, no copies
    if len(data) == n:
        return data
    if not data:
        return None
    parts = [data]
    got = len(data)
    while got < n:
        chunk = sock.recv(n - got, socket.MSG_WAITALL)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_msg(sock: socket.socket) -> tuple[dict, dict[str, bytes]] | None:
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack("!I", head)
    if n > 16 * 1024 * 1024:
        return None
    raw = _recv_exact(sock, n)
    if raw is None:
        return None
    header = json.loads(raw)
    if sock.gettimeout() is not None:
        # blobs follow the header at once: read them blocking (one allocation each, no partial reads
        # and re-allocations), bounded by a kernel receive timeout instead
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 30, 0))
    blobs: dict[str, bytes] = {}
    for name, size in header.pop("_blobs", []):
        data = _recv_exact(sock, int(size))
        if data is None:
            return None
        blobs[name] = data
    return header, blobs


# --------------------------------------------------------------------------- cgroups (v1)

class Cgroups:
    """Per-slot cgroups (memory, pids, cpuacct) under this process's own v1 cgroups, if writable."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
        self._ready: dict[int, dict[str, str]] = {}
        try:
            own = {}
            for line in open("/proc/self/cgroup"):
                _, ctrls, path = line.strip().split(":", 2)
                for c in ctrls.split(","):
                    own[c] = path
            for ctrl in ("memory", "pids", "cpuacct"):
                base = f"/sys/fs/cgroup/{ctrl}"
                if ctrl in own and os.path.isdir(base):
                    self.paths[ctrl] = base + own[ctrl].rstrip("/") + "/verirl"
        except OSError:
            self.paths = {}

    def slot(self, n: int) -> dict[str, str] | None:
        if n in self._ready:
            return self._ready[n]
        out = {}
        try:
            for ctrl, base in self.paths.items():
                p = f"{base}/slot{n}"
                os.makedirs(p, exist_ok=True)
                for d in (base, p):  # a host release agent must not remove our empty cgroups
                    if os.path.exists(d + "/notify_on_release"):
                        _write(d + "/notify_on_release", "0")
                out[ctrl] = p
        except OSError:
            return None
        if set(out) != {"memory", "pids", "cpuacct"}:
            return None
        self._ready[n] = out
        return out


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _oom_kills(memdir: str) -> int:
    try:
        for line in _read(memdir + "/memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int(_read(memdir + "/memory.failcnt"))
    except OSError:
        return 0


# --------------------------------------------------------------------------- root file system

def _bind(src: str, dst: str, writable: bool = False) -> None:
    linux.mount(src, dst, None, linux.MS_BIND | linux.MS_REC)
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_NOSUID | linux.MS_NODEV
    if not writable:
        flags |= linux.MS_RDONLY
    linux.mount(None, dst, None, flags)


def _mirror(path: str, root: str) -> None:
    if not os.path.lexists(path):
        return
    dst = root + path
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(path):
        if not os.path.lexists(dst):
            os.symlink(os.readlink(path), dst)
        return
    if os.path.isdir(path):
        os.makedirs(dst, exist_ok=True)
    else:
        open(dst, "a").close()
    _bind(path, dst)


def _copy_tree(src: str, dst: str, uid: int | None, budget: int) -> int:
    """Copy regular files and directories (never symlinks, devices or fifos); returns bytes left."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat_mod.S_ISDIR(st.st_mode):
            os.mkdir(d, 0o755)
            if uid is not None:
                os.chown(d, uid, uid)
            budget = _copy_tree(s, d, uid, budget)
        elif stat_mod.S_ISREG(st.st_mode):
            budget -= st.st_size
            if budget < 0:
                raise OSError("work directory too large")
            fi = os.open(s, os.O_RDONLY | os.O_NOFOLLOW)
            fo = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, st.st_mode & 0o755 | 0o644)
            try:
                while os.sendfile(fo, fi, None, 1 << 24):
                    pass
            finally:
                os.close(fi)
                os.close(fo)
            if uid is not None:
                os.chown(d, uid, uid)
    return budget


def _copy_back(src: str, dst: str, budget: int) -> int:
    """After a writable run: the program's regular files back to the host work directory."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat_mod.S_ISDIR(st.st_mode):
            if not os.path.lexists(d):
                os.mkdir(d, 0o755)
            if os.path.isdir(d) and not os.path.islink(d):
                budget = _copy_back(s, d, budget)
        elif stat_mod.S_ISREG(st.st_mode):
            budget -= st.st_size
            if budget < 0:
                raise OSError("compiled output too large")
            if os.path.islink(d) or (os.path.lexists(d) and not os.path.isfile(d)):
                continue
            fi = os.open(s, os.O_RDONLY | os.O_NOFOLLOW)
            fo = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o755 if st.st_mode & 0o111 else 0o644)
            try:
                while os.sendfile(fo, fi, None, 1 << 24):
                    pass
            finally:
                os.close(fi)
                os.close(fo)
    return budget


def _tree_bytes(path: str) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed), rounded up per 4 KiB page."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if stat_mod.S_ISREG(st.st_mode):
                total += (st.st_size + 4095) & ~4095
    return total


def work_mb(lim: Limits) -> int:
    return max(64, 2 * lim.file_size_mb)


def build_root(lim: Limits, workdir: str | None, work_writable: bool, uid: int, extra_ro: list[str], links: list = ()) -> str:
    root = STAGE
    linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=8m,mode=755")
    for p in list(READONLY_PATHS) + extra_ro:
        _mirror(p, root)
    etc = root + "/etc"
    os.makedirs(etc, exist_ok=True)
    for name, text in (
        ("passwd", f"root:x:0:0::/:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}::/tmp:/usr/sbin/nologin\n"),
        ("group", f"root:x:0:\nsandbox:x:{uid}:\n"),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
        ("hostname", "sandbox\n"),
        ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"),
    ):
        with open(f"{etc}/{name}", "w") as f:
            f.write(text)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    for d in DEVICES:
        open(f"{dev}/{d}", "a").close()
        linux.mount(f"/dev/{d}", f"{dev}/{d}", None, linux.MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(dev + "/shm")
    linux.mount("tmpfs", dev + "/shm", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=16m,mode=1777")
    os.makedirs(root + "/tmp")
    linux.mount("tmpfs", root + "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={lim.tmpfs_mb}m,mode=1777")
    os.makedirs(root + "/proc")
    os.makedirs(root + "/work")
    # the work directory is copied into its own tmpfs: no host path in mountinfo, no host inode to watch
    # sized to hold what is there (a compiled binary may be as large as the compile step allowed) plus
    # the run's own room: a submission too big to copy is the compile step's to refuse, never a setup error
    size_mb = work_mb(lim) + (_tree_bytes(workdir) >> 20 if workdir else 0)
    linux.mount("tmpfs", root + "/work", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={size_mb}m,mode=755")
    if workdir:
        _copy_tree(workdir, root + "/work", uid if work_writable else None, size_mb * 1024 * 1024)
    if work_writable:
        os.chown(root + "/work", uid, uid)
    else:
        linux.mount(None, root + "/work", None, linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)
    os.makedirs(root + "/.old")
    for name in links:  # /NAME -> /work/NAME: absolute paths a SandboxFusion request names, in the writable work dir
        if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) and name not in (".", "..") and not os.path.lexists(f"{root}/{name}"):
            os.symlink(f"/work/{name}", f"{root}/{name}")
    return root


# --------------------------------------------------------------------------- C3 / C4: the sandboxed processes

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
    linux.unshare(linux.CLONE_NEWCGROUP)  # now inside the slot's cgroups: /proc/self/cgroup shows "/", no host path
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


# --------------------------------------------------------------------------- C2: init

def _init(req: dict, blobs: dict[str, bytes], lim: Limits, fds: dict[str, int], root: str) -> None:
    """PID 1 of the run's namespace. Never returns."""
    mine = {"stat_w", "sync_r"}
    child_ends = {"in_r", "out_w", "err_w", "setup_w", "jin_r", "jlog_w", "jres_w", "jsetup_w", "j2p_r", "j2p_w", "p2j_r", "p2j_w"}
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        for k, fd in fds.items():
            if k not in mine and k not in child_ends:
                os.close(fd)
        if os.read(fds["sync_r"], 1) != b"g":
            os._exit(120)
        os.close(fds["sync_r"])
        # own mount namespace: pivot_root would otherwise move the supervisor's root too
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount("proc", root + "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        os.chdir(root)
        linux.pivot_root(".", ".old")
        os.chdir("/")
        linux.umount2("/.old", linux.MNT_DETACH)
        os.rmdir("/.old")
        linux.mount(None, "/", None, linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)
        linux.sethostname("sandbox")
    except BaseException as exc:  # noqa: BLE001
        os.write(fds["stat_w"], json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        os._exit(120)
    judge = bool(req.get("judge"))
    pids: dict[int, str] = {}
    for role in ("program", "judge") if judge else ("program",):
        pid = os.fork()
        if pid == 0:
            os.close(fds["stat_w"])
            _child(role, req, blobs, lim, fds)
        pids[pid] = role
    for k in child_ends:
        if k in fds:
            os.close(fds[k])
    status: dict[str, int | None] = {"program": None, "judge": None}
    last = "judge" if judge else "program"
    while True:
        try:
            got, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if got in pids:
            status[pids[got]] = st
            if pids[got] == last:
                break
    os.write(fds["stat_w"], json.dumps(status).encode())
    os._exit(0)


# --------------------------------------------------------------------------- C1: supervisor

def _pipe(fds: dict[str, int], name: str, owner: int | None = None, end: str = "") -> None:
    r, w = os.pipe()
    fds[name + "_r"], fds[name + "_w"] = r, w
    if owner is not None:  # the sandboxed end belongs to its process: /dev/stdin etc. open by path
        os.fchown(r if end == "r" else w, owner, owner)


def _supervise(sock: socket.socket, req: dict, blobs: dict[str, bytes], cg: Cgroups) -> tuple[dict, dict[str, bytes]]:
    lim = Limits.from_dict(req["limits"])
    judge = bool(req.get("judge"))
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS)
    if lim.loopback:  # asked for: lo up in the run's own (otherwise empty) network namespace
        linux.loopback_up()
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = build_root(lim, req.get("workdir"), bool(req.get("work_writable")), req["uid"], req.get("extra_ro", []), req.get("links") or [])
    fds: dict[str, int] = {}
    uid = req["uid"]
    _pipe(fds, "in", uid, "r")
    _pipe(fds, "out", uid, "w")
    _pipe(fds, "err", uid, "w")
    _pipe(fds, "setup")
    _pipe(fds, "stat")
    _pipe(fds, "sync")
    if judge:
        juid = req["judge_uid"]
        _pipe(fds, "jin", juid, "r")
        _pipe(fds, "jlog", juid, "w")
        _pipe(fds, "jres", juid, "w")
        _pipe(fds, "jsetup")
        _pipe(fds, "j2p")  # judge -> program
        os.fchown(fds["j2p_w"], juid, juid)
        os.fchown(fds["j2p_r"], uid, uid)
        _pipe(fds, "p2j")  # program -> judge
        os.fchown(fds["p2j_w"], uid, uid)
        os.fchown(fds["p2j_r"], juid, juid)
    slot_cg = cg.slot(req["slot"]) if req.get("cgroups") else None
    c2 = os.fork()
    if c2 == 0:
        sock.close()
        _init(req, blobs, lim, fds, root)
    mine = {"in_w", "out_r", "err_r", "setup_r", "stat_r", "sync_w", "jin_w", "jlog_r", "jres_r", "jsetup_r"}
    for k in list(fds):
        if k not in mine:
            os.close(fds.pop(k))
    stdin = blobs.pop("stdin", b"")
    blobs.clear()
    if judge:  # read only now: C2 (and so the program) was forked before this was in our memory
        got = recv_msg(sock)
        judge_input = got[1].get("judge_input", b"") if got else b""
    cpu0 = 0
    oom0 = 0
    if slot_cg:
        mem = lim.memory_mb * 1024 * 1024
        memdir = slot_cg["memory"]
        try:  # v1 wants memsw >= limit at every step: the order depends on raising or lowering
            _write(memdir + "/memory.limit_in_bytes", str(mem))
            if os.path.exists(memdir + "/memory.memsw.limit_in_bytes"):
                _write(memdir + "/memory.memsw.limit_in_bytes", str(mem))
        except OSError:
            _write(memdir + "/memory.memsw.limit_in_bytes", str(mem))
            _write(memdir + "/memory.limit_in_bytes", str(mem))
        _write(slot_cg["pids"] + "/pids.max", str(lim.max_processes))
        oom0 = _oom_kills(memdir)
        cpu0 = int(_read(slot_cg["cpuacct"] + "/cpuacct.usage"))
        for ctrl in ("memory", "pids", "cpuacct"):
            _write(slot_cg[ctrl] + "/cgroup.procs", str(c2))
    own0 = time.process_time()  # our own work for this run (draining its output, feeding its input) is charged to it
    t0 = time.monotonic()
    os.write(fds["sync_w"], b"g")
    os.close(fds["sync_w"])
    deadline = t0 + lim.wall()
    feeds: dict[int, list] = {}  # fd -> [data, sent]
    for name, data in (("in_w", stdin), ("jin_w", judge_input if judge else b"")):
        if name not in fds:
            continue
        if data:
            os.set_blocking(fds[name], False)
            feeds[fds[name]] = [data, 0]
        else:
            os.close(fds[name])
    caps = {fds["out_r"]: lim.stdout_bytes, fds["err_r"]: lim.stderr_bytes, fds["setup_r"]: SETUP_CAP}
    if judge:
        caps.update({fds["jlog_r"]: JUDGE_LOG_CAP, fds["jres_r"]: JUDGE_RESULT_CAP, fds["jsetup_r"]: SETUP_CAP})
    bufs: dict[int, bytearray] = {fd: bytearray() for fd in caps}
    open_r = set(bufs)
    overflow: set[int] = set()
    devnull = os.open("/dev/null", os.O_WRONLY)
    pidfd = os.pidfd_open(c2)
    killed = None
    idle = False
    busy_cpu, busy_at = 0.0, t0
    c2_done = False
    while True:
        now = time.monotonic()
        if now >= deadline and killed is None:
            killed = "wall_time"
            os.kill(c2, signal.SIGKILL)
        if c2_done and not open_r:
            break
        rlist = list(open_r) + ([pidfd] if not c2_done else [])
        tick = 0.05 if slot_cg else 1.0
        r, w, _ = select.select(rlist, list(feeds), [], max(0.0, min(deadline - now, tick)) if killed is None else 0.5)
        if slot_cg and killed is None and not c2_done:
            # CPU time of the whole tree (threads and children included), enforced within ~50 ms
            tree = (int(_read(slot_cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9
            used = tree + time.process_time() - own0
            if used > lim.cpu_time_s + 0.05:
                killed = "cpu_time"
                os.kill(c2, signal.SIGKILL)
            elif tree > busy_cpu + 0.01:  # the tree's own CPU: our draining of its pipes is not its work
                busy_cpu, busy_at = tree, now
            elif lim.idle_s and now - busy_at > lim.idle_s:
                killed, idle = "wall_time", True
                os.kill(c2, signal.SIGKILL)
        if pidfd in r:
            c2_done = True
            for fd in list(feeds):
                os.close(fd)
                del feeds[fd]
        for fd in w:
            if fd not in feeds:
                continue
            data, sent = feeds[fd]
            try:
                sent += os.write(fd, data[sent : sent + 65536])
            except (BrokenPipeError, BlockingIOError):
                sent = len(data)
            feeds[fd][1] = sent
            if sent >= len(data):
                os.close(fd)
                del feeds[fd]
        for fd in r:
            if fd == pidfd:
                continue
            if fd in overflow:  # past its cap: drop in the kernel, no copy (a vmsplice flood costs us nothing)
                try:
                    n = os.splice(fd, devnull, 1 << 20)
                except OSError:
                    n = len(os.read(fd, 1 << 16))
                if not n:
                    open_r.discard(fd)
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_r.discard(fd)
                continue
            buf = bufs[fd]
            room = caps[fd] - len(buf)
            if len(chunk) > room:
                buf += chunk[: max(0, room)]
                if fd == fds["out_r"] and killed is None:
                    killed = "output_limit"
                    os.kill(c2, signal.SIGKILL)
                overflow.add(fd)
            else:
                buf += chunk
        if c2_done and killed is not None:
            break
    os.close(devnull)
    _, _, ru = os.wait4(c2, 0)
    wall = time.monotonic() - t0
    os.close(pidfd)
    cpu = ru.ru_utime + ru.ru_stime
    oom = False
    if slot_cg:
        cpu = (int(_read(slot_cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9 + time.process_time() - own0
        oom = _oom_kills(slot_cg["memory"]) > oom0
    stat_raw = os.read(fds["stat_r"], 4096)
    rep: dict = {"setup_error": None, "compile_error": None}
    try:
        stat = json.loads(stat_raw) if stat_raw else {}
    except ValueError:
        stat = {"error": "init sent a malformed status"}
    if stat.get("error"):
        rep["setup_error"] = stat["error"]
    for fd in [fds["setup_r"]] + ([fds["jsetup_r"]] if judge else []):
        if bufs[fd]:
            try:
                msg = json.loads(bytes(bufs[fd]))
            except ValueError:
                msg = {"setup_error": "malformed set-up report"}
            if msg.get("compile_error") and fd == fds["setup_r"]:
                rep["compile_error"] = msg["compile_error"]
            else:
                rep["setup_error"] = rep["setup_error"] or msg.get("setup_error") or "set-up failed"
    pst = stat.get("program")
    jst = stat.get("judge")
    if req.get("work_writable") and req.get("workdir") and not rep["setup_error"]:
        try:
            _copy_back(root + "/work", req["workdir"], work_mb(lim) * 1024 * 1024)
        except OSError as exc:
            rep["setup_error"] = f"copying the work directory back: {exc}"
    rep.update(
        {
            "exit_code": os.WEXITSTATUS(pst) if pst is not None and os.WIFEXITED(pst) else None,
            "signal": os.WTERMSIG(pst) if pst is not None and os.WIFSIGNALED(pst) else None,
            "program_finished": pst is not None,
            "judge_exit": (os.WEXITSTATUS(jst) if os.WIFEXITED(jst) else -os.WTERMSIG(jst)) if jst is not None else None,
            "stderr_truncated": fds["err_r"] in overflow,
            "cpu_s": cpu,
            "wall_s": wall,
            "max_rss_kb": ru.ru_maxrss,
            "killed": killed,
            "idle": idle,
            "oom": oom,
        }
    )
    out = {"stdout": bytes(bufs.pop(fds["out_r"])), "stderr": bytes(bufs.pop(fds["err_r"]))}
    if judge:
        out["judge"] = bytes(bufs.pop(fds["jres_r"]))
        out["judge_log"] = bytes(bufs.pop(fds["jlog_r"]))
    return rep, out


def serve_run(sock: socket.socket, cg: Cgroups) -> None:
    """C1: one run, on its own socket. Never returns."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        got = recv_msg(sock)
        if got is None:
            os._exit(0)
        req, blobs = got
        rep, out = _supervise(sock, req, blobs, cg)
    except BaseException as exc:  # noqa: BLE001
        rep, out = {"setup_error": f"{type(exc).__name__}: {exc}"}, {}
    try:
        send_msg(sock, rep, out)
    finally:
        os._exit(0)


# --------------------------------------------------------------------------- the zygote

def main() -> None:
    """Control loop on fd 0 (a unix socket): b"?" -> status line; b"F" + a socket fd -> fork, answer a pidfd."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.makedirs(STAGE, mode=0o700, exist_ok=True)
    for mod in WARM_MODULES:  # imported once here, warm in every fork: a Python run does not pay for them
        __import__(mod)
    linux.cap_last_cap()
    linux.build_filter()
    cg = Cgroups()
    for n in range(4 * (os.cpu_count() or 1)):  # created once here, not by every run
        cg.slot(n)
    ctrl = socket.socket(fileno=0)
    while True:
        try:
            msg, got_fds, _, _ = socket.recv_fds(ctrl, 1, 1)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if msg == b"?":
            ctrl.sendall(json.dumps({"ok": True, "cgroups": bool(cg.slot(0)), "pid": os.getpid()}).encode() + b"\n")
            continue
        if msg != b"F" or len(got_fds) != 1:
            for fd in got_fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            serve_run(socket.socket(fileno=got_fds[0]), cg)
        os.close(got_fds[0])
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # already gone (it found no request): nothing to hand over
            ctrl.sendall(b"X")
            continue
        socket.send_fds(ctrl, [b"P"], [pidfd])
        os.close(pidfd)


if __name__ == "__main__":
    main()
