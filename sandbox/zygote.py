"""The sandbox fork server ("zygote") and the three processes of every run.

The zygote is a Python process started with an empty environment. It never
runs untrusted code: for each run it forks

    C1 supervisor   new mount, PID, network, IPC, UTS namespaces; builds the
                    read-only root on a tmpfs; feeds stdin, reads stdout/stderr/
                    the aux channel (fd 3) with caps; enforces the wall deadline;
                    reports to the zygote.
    C2 init         PID 1 of the new PID namespace: mounts /proc, pivots into
                    the new root, forks the program and waits for it. When C2
                    exits the kernel kills everything left in the namespace
                    (daemons, setsid children, fork bombs).
    C3 program      rlimits, slot uid, a user namespace, no_new_privs, seccomp;
                    then exec of the runtime, or (Python) the pre-compiled source
                    run in this already-warm interpreter.

Protocol with the parent (:class:`sandbox.client.Sandbox`): length-prefixed
pickles on fds 0 (requests) and 1 (responses). Both ends are our code.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time

from sandbox import linux
from sandbox.policy import DEVICES, READONLY_PATHS, Limits

STAGE = "/tmp/.verirl-sandbox-root"
SANDBOX_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}


# --------------------------------------------------------------------------- framing

def read_msg(fd: int):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack("!I", head)
    body = _read_exact(fd, n)
    return pickle.loads(body) if body is not None else None


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def write_msg(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("!I", len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# --------------------------------------------------------------------------- cgroups (v1)

class Cgroups:
    """Per-slot cgroups (memory, pids, cpuacct) under this process's own v1 cgroups, if writable."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
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
        return out if set(out) == {"memory", "pids", "cpuacct"} else None


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


def build_root(lim: Limits, workdir: str | None, work_writable: bool, uid: int, extra_ro: list[str]) -> str:
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
    if workdir:
        _bind(workdir, root + "/work", writable=work_writable)
    os.makedirs(root + "/.old")
    return root


# --------------------------------------------------------------------------- the three processes

def _program(req: dict, lim: Limits, fds: dict[str, int]) -> None:
    """C3: become the untrusted program. Never returns."""
    try:
        for target, src in ((0, fds["in_r"]), (1, fds["out_w"]), (2, fds["err_w"]), (3, fds["aux_w"])):
            os.dup2(src, target)
            os.set_inheritable(target, True)
        os.closerange(4, 65536)
        os.chdir("/work" if req.get("workdir") else "/tmp")
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
        stack = lim.stack_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
        uid = req["uid"]
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        linux.prctl(linux.PR_SET_DUMPABLE, 1)  # reset by the uid change; /proc/self must stay ours
        linux.unshare(linux.CLONE_NEWUSER)
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{uid} {uid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        linux.install_seccomp()
    except BaseException as exc:  # set-up failed: report on stderr, a distinct exit code
        os.write(2, f"verirl-sandbox-setup-failed: {exc}\n".encode())
        os._exit(121)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if req.get("python_source") is not None:
        _run_python(req)
    env = dict(SANDBOX_ENV)
    try:
        os.execve(req["argv"][0], req["argv"], env)
    except OSError as exc:
        os.write(2, f"verirl-sandbox-exec-failed: {exc}\n".encode())
        os._exit(122)


def _run_python(req: dict) -> None:
    """Run pre-compiled Python source as __main__ in this (fresh, forked) interpreter."""
    import builtins
    import io

    os.environ.clear()
    os.environ.update(SANDBOX_ENV)
    prefix = sys.base_prefix
    sys.path[:] = ["/work"] + [p for p in sys.path if p.startswith(prefix)]
    sys.argv[:] = [req.get("filename", "main.py")]
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace", write_through=False)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True)
    code = compile(req["python_source"], req.get("filename", "main.py"), "exec")
    g = {"__name__": "__main__", "__file__": req.get("filename", "main.py"), "__builtins__": builtins}
    status = 0
    try:
        exec(code, g)
    except SystemExit as e:
        c = e.code
        status = c if isinstance(c, int) else (0 if c is None else 1)
        if not isinstance(c, int) and c is not None:
            print(c, file=sys.stderr)
    except BaseException as exc:
        import traceback

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # hide this harness frame
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        status = status or 1
    os._exit(status & 0xFF)


def _init(req: dict, lim: Limits, fds: dict[str, int], root: str) -> None:
    """C2: PID 1 of the run's namespace. Never returns."""
    try:
        os.close(fds["in_w"])
        for k in ("out_r", "err_r", "aux_r", "rep_w", "sync_w"):
            os.close(fds[k])
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
    except BaseException as exc:
        os.write(fds["stat_w"], struct.pack("!ii", -1, 0) + str(exc).encode()[:500])
        os._exit(120)
    pid = os.fork()
    if pid == 0:
        os.close(fds["stat_w"])
        _program(req, lim, fds)
    for k in ("in_r", "out_w", "err_w", "aux_w"):
        os.close(fds[k])
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if got == pid:
            os.write(fds["stat_w"], struct.pack("!ii", 0, status))
            os._exit(0)


def _supervise(req: dict, fds: dict[str, int], cg: Cgroups) -> dict:
    """C1: namespaces, root, I/O, deadline. Returns the report."""
    lim = Limits.from_dict(req["limits"])
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = build_root(lim, req.get("workdir"), bool(req.get("work_writable")), req["uid"], req.get("extra_ro", []))
    stat_r, stat_w = os.pipe()
    fds["stat_w"] = stat_w
    slot_cg = cg.slot(req["slot"]) if req.get("cgroups") else None
    c2 = os.fork()
    if c2 == 0:
        os.close(stat_r)
        _init(req, lim, fds, root)
    os.close(stat_w)
    for k in ("in_r", "out_w", "err_w", "aux_w", "sync_r"):
        os.close(fds[k])
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
    t0 = time.monotonic()
    os.write(fds["sync_w"], b"g")
    os.close(fds["sync_w"])
    deadline = t0 + lim.wall()
    stdin = req.get("stdin") or b""
    in_w = fds["in_w"]
    if not stdin:
        os.close(in_w)
        in_w = -1
    else:
        os.set_blocking(in_w, False)
    bufs = {fds["out_r"]: bytearray(), fds["err_r"]: bytearray(), fds["aux_r"]: bytearray()}
    caps = {fds["out_r"]: lim.stdout_bytes, fds["err_r"]: lim.stderr_bytes, fds["aux_r"]: 4 * 1024 * 1024}
    open_r = set(bufs)
    pidfd = os.pidfd_open(c2)
    killed = None
    sent = 0
    truncated_err = False
    c2_done = False
    while True:
        now = time.monotonic()
        if now >= deadline and killed is None:
            killed = "wall_time"
            os.kill(c2, signal.SIGKILL)
        rlist = list(open_r) + ([pidfd] if not c2_done else [])
        wlist = [in_w] if in_w >= 0 else []
        if not rlist and not wlist:
            break
        if c2_done and not open_r:
            break
        tick = 0.05 if slot_cg else 1.0
        r, w, _ = select.select(rlist, wlist, [], max(0.0, min(deadline - now, tick)) if killed is None else 0.5)
        if slot_cg and killed is None and not c2_done:
            # CPU time of the whole tree (threads and children included), enforced within ~50 ms
            used = (int(_read(slot_cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9
            if used > lim.cpu_time_s + 0.05:
                killed = "cpu_time"
                os.kill(c2, signal.SIGKILL)
        if pidfd in r:
            c2_done = True
            if in_w >= 0:
                os.close(in_w)
                in_w = -1
        if w and in_w >= 0:
            try:
                sent += os.write(in_w, stdin[sent : sent + 65536])
            except (BrokenPipeError, BlockingIOError):
                sent = len(stdin)
            if sent >= len(stdin):
                os.close(in_w)
                in_w = -1
        for fd in r:
            if fd == pidfd:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_r.discard(fd)
                continue
            buf = bufs[fd]
            room = caps[fd] - len(buf)
            if len(chunk) > room:
                buf += chunk[: max(0, room)]
                if fd == fds["err_r"]:
                    truncated_err = True
                elif killed is None:
                    killed = "output_limit"
                    os.kill(c2, signal.SIGKILL)
            else:
                buf += chunk
        if c2_done and killed is not None:
            break
    _, _, ru = os.wait4(c2, 0)
    wall = time.monotonic() - t0
    os.close(pidfd)
    cpu = ru.ru_utime + ru.ru_stime
    oom = False
    if slot_cg:
        cpu = (int(_read(slot_cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9
        oom = _oom_kills(slot_cg["memory"]) > oom0
    stat = os.read(stat_r, 4096)
    setup_error = None
    status = None
    if len(stat) >= 8:
        code, status = struct.unpack("!ii", stat[:8])
        if code != 0:
            setup_error = stat[8:].decode(errors="replace") or "init failed"
            status = None
    err = bytes(bufs[fds["err_r"]])
    if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) in (121, 122) and b"verirl-sandbox-" in err:
        setup_error = err.decode(errors="replace").strip()[-500:]
    return {
        "exit_code": os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None,
        "stdout": bytes(bufs[fds["out_r"]]),
        "stderr": err,
        "stderr_truncated": truncated_err,
        "aux": bytes(bufs[fds["aux_r"]]),
        "cpu_s": cpu,
        "wall_s": wall,
        "max_rss_kb": ru.ru_maxrss,
        "killed": killed,
        "oom": oom,
        "setup_error": setup_error,
    }


def run(req: dict, cg: Cgroups) -> dict:
    names = ("in", "out", "err", "aux", "rep", "sync")
    fds: dict[str, int] = {}
    for n in names:
        r, w = os.pipe()
        fds[n + "_r"], fds[n + "_w"] = r, w
    pid = os.fork()
    if pid == 0:
        os.close(fds["rep_r"])
        try:
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            rep = _supervise(req, fds, cg)
        except BaseException as exc:
            rep = {"setup_error": f"{type(exc).__name__}: {exc}"}
        try:
            write_msg(fds["rep_w"], rep)
        finally:
            os._exit(0)
    for k, fd in fds.items():
        if k != "rep_r":
            os.close(fd)
    lim = Limits.from_dict(req["limits"])
    outer = time.monotonic() + lim.wall() + 15
    r, _, _ = select.select([fds["rep_r"]], [], [], max(0.0, outer - time.monotonic()))
    if r:
        rep = read_msg(fds["rep_r"]) or {"setup_error": "supervisor died without a report"}
    else:
        os.kill(pid, signal.SIGKILL)
        rep = {"setup_error": "supervisor did not report in time"}
    os.close(fds["rep_r"])
    os.waitpid(pid, 0)
    return rep


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.makedirs(STAGE, mode=0o700, exist_ok=True)
    cg = Cgroups()
    while True:
        req = read_msg(0)
        if req is None:
            os._exit(0)
        if req.get("op") == "ping":
            write_msg(1, {"ok": True, "cgroups": bool(cg.slot(0)), "pid": os.getpid()})
            continue
        try:
            rep = run(req, cg)
        except BaseException as exc:
            rep = {"setup_error": f"{type(exc).__name__}: {exc}"}
        write_msg(1, rep)


if __name__ == "__main__":
    main()
