"""The sandbox fork server ("zygote") and the slot keepers it forks.

The zygote is a Python process started with an empty environment and a command
line that names no host path. It never runs untrusted code and never receives a
request, a test or a report: its only inputs are "?" (a status line) and "K"
(a keeper for one slot, with one end of a socket pair the client made for it).

    K  keeper   one per slot and zygote, long-lived, built once: its own cgroups
                (memory, pids, cpuacct; it is their only process between runs, the
                client sets the run's limits on them), its own mount, network (no
                device but a loopback that stays down), IPC, UTS (hostname
                ``sandbox``) and cgroup namespaces, pivoted into the slot's
                read-only root (the runtime's own directories, /etc with nothing
                secret, the few devices). Per run it receives only file descriptors
                (the run's pipes and a socket to the client), never a request: it
                forks the run's init into a new PID namespace and hands the client
                a pidfd of it. So nothing one run saw is in the memory the next run
                is forked from. See :mod:`sandbox.inside` for the run's processes.

What is made fresh for every run, inside the keeper's namespaces: the PID
namespace, a mount namespace with its own /proc and tmpfs /tmp, /dev/shm and
/work, the IPC objects of the slot (removed before the program starts), the user
namespace, uid, rlimits, capabilities and seccomp filter of the program.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import struct

from sandbox import inside, linux
from sandbox.framing import _recv_exact, send_msg
from sandbox.inside import NOSD, run_init
from sandbox.policy import DEVICES, READONLY_PATHS

STAGE = "/tmp/.verirl-sandbox-root"
WARM_MODULES = ("traceback", "base64", "re", "math", "collections", "itertools", "functools", "heapq", "bisect", "importlib", "contextlib", "marshal", "resource")
CONTROLLERS = ("memory", "pids", "cpuacct")


# --------------------------------------------------------------------------- cgroups (v1)

class Cgroups:
    """Per-keeper cgroups (memory, pids, cpuacct) under this process's own v1 cgroups, if writable."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
        try:
            own = {}
            for line in open("/proc/self/cgroup"):
                _, ctrls, path = line.strip().split(":", 2)
                for c in ctrls.split(","):
                    own[c] = path
            for ctrl in CONTROLLERS:
                base = f"/sys/fs/cgroup/{ctrl}"
                if ctrl in own and os.path.isdir(base):
                    self.paths[ctrl] = base + own[ctrl].rstrip("/") + "/verirl"
        except OSError:
            self.paths = {}

    def make(self, name: str) -> dict[str, str] | None:
        """``verirl/NAME`` in each controller (created, never removed by a host release agent), or None."""
        if set(self.paths) != set(CONTROLLERS):
            return None
        out = {}
        try:
            for ctrl, base in self.paths.items():
                p = f"{base}/{name}"
                os.makedirs(p, exist_ok=True)
                for d in (base, p):
                    if os.path.exists(d + "/notify_on_release"):
                        _write(d + "/notify_on_release", "0")
                out[ctrl] = p
        except OSError:
            return None
        return out

    def sweep(self) -> None:
        """Remove the cgroups of keepers that are gone (an rmdir of one in use fails and is left alone)."""
        for base in self.paths.values():
            try:
                names = os.listdir(base)
            except OSError:
                continue
            for name in names:
                if name.startswith("k") and name[1:].isdigit() and not os.path.exists(f"/proc/{name[1:]}"):
                    try:
                        os.rmdir(f"{base}/{name}")
                    except OSError:
                        pass


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


# --------------------------------------------------------------------------- the slot's root file system

def _bind(src: str, dst: str) -> None:
    linux.mount(src, dst, None, linux.MS_BIND | linux.MS_REC)
    linux.mount(None, dst, None, linux.MS_BIND | linux.MS_REMOUNT | NOSD | linux.MS_RDONLY)


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


def build_root(uid: int, extra_ro: list[str]) -> str:
    """The slot's root at STAGE: read-only runtime directories, /etc, devices, and empty mount points
    (/proc, /tmp, /dev/shm, /work get their own mounts in every run)."""
    root = STAGE
    linux.mount("tmpfs", root, "tmpfs", NOSD, "size=8m,mode=755")
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
    for d in ("/dev/shm", "/tmp", "/proc", "/work", "/.old"):
        os.makedirs(root + d)
    return root


# --------------------------------------------------------------------------- K: the keeper

def _keeper_setup(cfg: dict) -> tuple[dict | None, int, int, frozenset[str]]:
    """Everything a slot's runs share, done once: (cgroup paths, pid-namespace fd, mqueue fd, root's names)."""
    cg = None
    if cfg.get("cgroups"):
        cg = Cgroups().make(f"k{os.getpid()}")
        if cg is None:
            raise OSError("cannot create the keeper's cgroups")
        for ctrl in CONTROLLERS:  # the only migration: every run is forked inside them
            _write(cg[ctrl] + "/cgroup.procs", str(os.getpid()))
    try:  # a run's memory limit kills the run, never its keeper (where we may lower our score)
        before = _read("/proc/self/oom_score_adj").strip()
        _write("/proc/self/oom_score_adj", "-1000")
        inside.OOM_SCORE_ADJ = before  # what the run's program and judge get back
    except OSError:
        pass
    pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    # the cgroup namespace is rooted at our cgroups: a run's /proc/self/cgroup shows "/", no host path
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS | linux.CLONE_NEWCGROUP)
    linux.sethostname("sandbox")
    _write("/proc/sys/kernel/shm_rmid_forced", "1")  # a SysV segment goes with its last user (this IPC namespace only)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    root = build_root(int(cfg["uid"]), list(cfg.get("extra_ro") or []))
    # this IPC namespace's POSIX message queues, listed by init before every run through this fd
    linux.mount("mqueue", root + "/.old", "mqueue", NOSD | linux.MS_NOEXEC)
    mq = os.open(root + "/.old", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    linux.umount2(root + "/.old", linux.MNT_DETACH)
    os.chdir(root)
    linux.pivot_root(".", ".old")
    os.chdir("/")
    linux.umount2("/.old", linux.MNT_DETACH)
    os.rmdir("/.old")
    # read-only for the runs (a per-mount flag: init may add a run's links in its own namespace)
    linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | NOSD)
    return cg, pidns, mq, frozenset(os.listdir("/"))


def keep(sock: socket.socket, cfg: dict) -> None:
    """K: one slot's isolation, built once; forks a run's init for every b"R". Never returns."""
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        cg, pidns, mq, baseline = _keeper_setup(cfg)
    except BaseException as exc:  # noqa: BLE001 - reported to the client, which refuses to run
        try:
            send_msg(sock, {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            os._exit(1)
    send_msg(sock, {"ok": True, "cgroups": cg})
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 16, 64)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if msg != b"R" or not fds:
            for fd in fds:
                os.close(fd)
            continue
        try:
            linux.setns(pidns, linux.CLONE_NEWPID)  # back to ours, then a new one for the next child
            linux.unshare(linux.CLONE_NEWPID)
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            sock.close()
            os.close(pidns)
            run_init(socket.socket(fileno=fds[0]), fds[1:], mq, baseline)
        for fd in fds:
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid) if pid > 0 else -1
        except OSError:
            pidfd = -1
        if pidfd < 0:
            sock.sendall(b"X")
            continue
        socket.send_fds(sock, [b"P" + struct.pack("!I", pid)], [pidfd])
        os.close(pidfd)


# --------------------------------------------------------------------------- the zygote

def main() -> None:
    """Control loop on fd 0 (a unix socket): b"?" -> status line; b"K" + config + a socket -> a keeper, answer its pidfd."""
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
    cgroups_ok = cg.make("probe") is not None
    gc.freeze()  # what is here stays shared with every fork: no collection touches (copies) its pages
    ctrl = socket.socket(fileno=0)
    while True:
        try:
            msg, got_fds, _, _ = socket.recv_fds(ctrl, 1, 1)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        if msg == b"?":
            ctrl.sendall(json.dumps({"ok": True, "cgroups": cgroups_ok, "pid": os.getpid()}).encode() + b"\n")
            continue
        if msg != b"K" or len(got_fds) != 1:
            for fd in got_fds:
                os.close(fd)
            continue
        head = _recv_exact(ctrl, 4)
        raw = _recv_exact(ctrl, struct.unpack("!I", head)[0]) if head else None
        if raw is None:
            os._exit(0)
        cfg = json.loads(raw)
        cg.sweep()
        pid = os.fork()
        if pid == 0:
            ctrl.close()
            keep(socket.socket(fileno=got_fds[0]), cfg)
        os.close(got_fds[0])
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # already gone: nothing to hand over
            ctrl.sendall(b"X")
            continue
        socket.send_fds(ctrl, [b"P"], [pidfd])
        os.close(pidfd)


if __name__ == "__main__":
    main()
