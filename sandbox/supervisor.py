"""One run, supervised from the client's own thread: pipes, the slot's cgroups, deadlines, caps.

The client makes the run's /work (a tmpfs mounted nowhere, filled with the work
directory here, so its pages are charged to the client, not to the run), sets the
run's limits on the keeper's cgroups, and hands the keeper the run's pipes, that
tmpfs and a socket, as file descriptors; the request goes to the run's init over the
socket while the keeper forks it, and the keeper answers with a pidfd of it. From
here: stdin and the judge's input are fed; output is read with caps; the CPU time of
the whole tree (cgroup) and the wall-clock deadline are enforced by killing init,
which takes its PID namespace with it. After a writable run, what the program left
in /work is copied back through our own handle on that tmpfs. The CPU this thread
spends on the run (feeding, draining) is charged to the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import stat as stat_mod
import struct
import time

from sandbox import linux
from sandbox.framing import send_msg
from sandbox.policy import Limits

JUDGE_RESULT_CAP = 64 * 1024
JUDGE_LOG_CAP = 64 * 1024
SETUP_CAP = 64 * 1024
SETUP_TIMEOUT_S = 30.0  # the most a run's set-up or its end after SIGKILL may take


class KeeperGone(RuntimeError):
    """The slot's keeper did not take the run (it died); nothing of the run started."""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _oom_kills(memdir: str) -> int:
    try:
        for line in _read(memdir + "/memory.oom_control").splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return int(_read(memdir + "/memory.failcnt"))
    except OSError:
        return 0


def set_limits(cg: dict[str, str], lim: Limits, last: dict) -> None:
    """The run's memory and process limits on the keeper's cgroups (written only when they change)."""
    mem = lim.memory_mb * 1024 * 1024
    memdir = cg["memory"]
    if last.get("mem") != mem:
        try:  # v1 wants memsw >= limit at every step: the order depends on raising or lowering
            _write(memdir + "/memory.limit_in_bytes", str(mem))
            if os.path.exists(memdir + "/memory.memsw.limit_in_bytes"):
                _write(memdir + "/memory.memsw.limit_in_bytes", str(mem))
        except OSError:
            _write(memdir + "/memory.memsw.limit_in_bytes", str(mem))
            _write(memdir + "/memory.limit_in_bytes", str(mem))
        last["mem"] = mem
    if last.get("pids") != lim.max_processes:
        _write(cg["pids"] + "/pids.max", str(lim.max_processes + 1))  # + the keeper, idle in there
        last["pids"] = lim.max_processes


# --------------------------------------------------------------------------- the work directory

def tree_bytes(path: str) -> int:
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


def _sendfile(src: str, dst: str, flags: int, mode: int) -> None:
    fi = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | flags, mode)
        try:
            while os.sendfile(fo, fi, None, 1 << 24):
                pass
        finally:
            os.close(fo)
    finally:
        os.close(fi)


def copy_tree(src: str, dst: str, uid: int | None, budget: int) -> int:
    """Copy regular files and directories (never symlinks, devices or fifos); returns bytes left."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat_mod.S_ISDIR(st.st_mode):
            os.mkdir(d, 0o755)
            if uid is not None:
                os.chown(d, uid, uid)
            budget = copy_tree(s, d, uid, budget)
        elif stat_mod.S_ISREG(st.st_mode):
            budget -= st.st_size
            if budget < 0:
                raise OSError("work directory too large")
            _sendfile(s, d, os.O_EXCL, st.st_mode & 0o755 | 0o644)
            if uid is not None:
                os.chown(d, uid, uid)
    return budget


def copy_back(src: str, dst: str, budget: int) -> int:
    """After a writable run: the program's regular files back to the host work directory."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat_mod.S_ISDIR(st.st_mode):
            if not os.path.lexists(d):
                os.mkdir(d, 0o755)
            if os.path.isdir(d) and not os.path.islink(d):
                budget = copy_back(s, d, budget)
        elif stat_mod.S_ISREG(st.st_mode):
            budget -= st.st_size
            if budget < 0:
                raise OSError("compiled output too large")
            if os.path.islink(d) or (os.path.lexists(d) and not os.path.isfile(d)):
                continue
            _sendfile(s, d, os.O_TRUNC, 0o755 if st.st_mode & 0o111 else 0o644)
    return budget


# --------------------------------------------------------------------------- one run

def _pipe(fds: dict[str, int], name: str, owner: int | None = None, end: str = "") -> None:
    r, w = os.pipe()
    fds[name + "_r"], fds[name + "_w"] = r, w
    if owner is not None:  # the sandboxed end belongs to its process: /dev/stdin etc. open by path
        os.fchown(r if end == "r" else w, owner, owner)


CHILD_ENDS = ("in_r", "out_w", "err_w", "setup_w", "stat_w", "jin_r", "jlog_w", "jres_w", "jsetup_w", "j2p_r", "j2p_w", "p2j_r", "p2j_w")


def _start(ksock: socket.socket, req: dict, blobs: dict[str, bytes], work: int, judge: bool) -> tuple[dict[str, int], int, int]:
    """Pipes and a socket for the run; the keeper forks its init, which gets the request and /work.
    (our fds, init's pid, its pidfd)."""
    fds: dict[str, int] = {}
    uid = req["uid"]
    _pipe(fds, "in", uid, "r")
    _pipe(fds, "out", uid, "w")
    _pipe(fds, "err", uid, "w")
    _pipe(fds, "setup")
    _pipe(fds, "stat")
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
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    names = [k for k in CHILD_ENDS if k in fds]
    req["fds"] = ["work"] + names
    try:
        try:
            socket.send_fds(ksock, [b"R"], [theirs.fileno(), work] + [fds[k] for k in names])
        except OSError as exc:
            raise KeeperGone(f"the slot's keeper is gone ({exc})") from exc
        finally:
            theirs.close()
            for k in names:
                os.close(fds.pop(k))
        with contextlib.suppress(OSError):  # while the keeper forks (init reads it; a dead one: see below)
            send_msg(ours, req, blobs)
        try:
            msg, got, _, _ = socket.recv_fds(ksock, 16, 1)
        except OSError:
            msg, got = b"", []
        if not msg.startswith(b"P") or len(got) != 1:
            for fd in got:
                os.close(fd)
            raise KeeperGone("the slot's keeper did not start the run")
    except KeeperGone:
        for fd in fds.values():
            os.close(fd)
        raise
    finally:
        ours.close()
    return fds, struct.unpack("!I", msg[1:5])[0], got[0]


def _setup_failed(text: str) -> tuple[dict, dict[str, bytes]]:
    return {"setup_error": text}, {}


def supervise(ksock: socket.socket, cg: dict[str, str] | None, last: dict, req: dict, blobs: dict[str, bytes],
              judge_input: bytes) -> tuple[dict, dict[str, bytes]]:
    """Run it; the report and the outputs (what ``_classify`` reads). Raises KeeperGone before anything started."""
    lim = Limits.from_dict(req["limits"])
    judge = bool(req.get("judge"))
    workdir = req.get("workdir")
    writable = bool(req.get("work_writable"))
    stdin = blobs.pop("stdin", b"")
    size_mb = work_mb(lim) + (tree_bytes(workdir) >> 20 if workdir else 0)
    try:
        # the run's /work: a tmpfs of its own, mounted nowhere yet, filled here (charged to us, not the run)
        work = linux.detached_tmpfs({"size": f"{size_mb}m", "mode": "755"})
    except OSError as exc:
        return _setup_failed(f"a tmpfs for the work directory: {exc}")
    try:
        try:
            if workdir:
                copy_tree(workdir, f"/proc/self/fd/{work}", req["uid"] if writable else None, size_mb * 1024 * 1024)
            if writable:
                os.chown(f"/proc/self/fd/{work}", req["uid"], req["uid"])
            if cg:
                set_limits(cg, lim, last)
        except OSError as exc:
            return _setup_failed(f"preparing the run: {exc}")
        cpu0 = oom0 = 0
        if cg:
            oom0 = _oom_kills(cg["memory"])
            cpu0 = int(_read(cg["cpuacct"] + "/cpuacct.usage"))
        own0 = time.thread_time()  # our own work for this run (draining its output, feeding its input) is charged to it
        t0 = time.monotonic()
        fds, _pid, pidfd = _start(ksock, req, blobs, work, judge)
        blobs.clear()
        try:
            rep, out = _supervise(fds, pidfd, cg, lim, judge, stdin, judge_input, cpu0, oom0, own0, t0)
            if writable and workdir and not rep.get("setup_error"):
                try:  # what the program left in its /work (our handle on it outlives the run's namespaces)
                    copy_back(f"/proc/self/fd/{work}", workdir, work_mb(lim) * 1024 * 1024)
                except OSError as exc:
                    rep["setup_error"] = f"copying the work directory back: {exc}"
            return rep, out
        finally:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # a no-op once it is gone
            for fd in fds.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            os.close(pidfd)
    finally:
        os.close(work)


def _supervise(fds, pidfd, cg, lim, judge, stdin, judge_input, cpu0, oom0, own0, t0) -> tuple[dict, dict[str, bytes]]:
    deadline = t0 + lim.wall()
    feeds: dict[int, list] = {}  # fd -> [data, sent]
    for name, data in (("in_w", stdin), ("jin_w", judge_input)):
        if name not in fds:
            continue
        fd = fds.pop(name)  # ours alone from here: closed when fed
        if data:
            os.set_blocking(fd, False)
            feeds[fd] = [data, 0]
        else:
            os.close(fd)
    caps = {fds["out_r"]: lim.stdout_bytes, fds["err_r"]: lim.stderr_bytes, fds["setup_r"]: SETUP_CAP, fds["stat_r"]: 4096}
    if judge:
        caps.update({fds["jlog_r"]: JUDGE_LOG_CAP, fds["jres_r"]: JUDGE_RESULT_CAP, fds["jsetup_r"]: SETUP_CAP})
    bufs: dict[int, bytearray] = {fd: bytearray() for fd in caps}
    open_r = set(bufs)
    overflow: set[int] = set()
    stat_r = fds["stat_r"]
    devnull = os.open("/dev/null", os.O_WRONLY)
    killed = None
    idle = False
    busy_cpu, busy_at = 0.0, t0
    tick = 0.05 if cg else 1.0

    def kill(why: str) -> None:
        nonlocal killed
        killed = why
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    try:
        while open_r:
            now = time.monotonic()
            if now >= deadline and killed is None:
                kill("wall_time")
            if killed is not None and now >= deadline + SETUP_TIMEOUT_S:
                return _setup_failed("the run's processes did not end after SIGKILL")
            done = stat_r not in open_r
            r, w, _ = select.select(list(open_r), list(feeds), [], max(0.0, min(deadline - now, tick)) if killed is None else 0.5)
            if cg and killed is None and not done:
                # CPU time of the whole tree (threads and children included), enforced within ~50 ms
                tree = (int(_read(cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9
                used = tree + time.thread_time() - own0
                if used > lim.cpu_time_s + 0.05:
                    kill("cpu_time")
                elif tree > busy_cpu + 0.01:  # the tree's own CPU: our draining of its pipes is not its work
                    busy_cpu, busy_at = tree, now
                elif lim.idle_s and now - busy_at > lim.idle_s:
                    kill("wall_time")
                    idle = True
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
                    if fd == stat_r:  # init has reported (or died): nobody reads what is left to feed
                        for f in list(feeds):
                            os.close(f)
                            del feeds[f]
                    continue
                buf = bufs[fd]
                room = caps[fd] - len(buf)
                if len(chunk) > room:
                    buf += chunk[: max(0, room)]
                    if fd == fds["out_r"] and killed is None:
                        kill("output_limit")
                    overflow.add(fd)
                else:
                    buf += chunk
        wall = time.monotonic() - t0
    finally:
        os.close(devnull)
        for fd in feeds:
            os.close(fd)
    try:
        stat = json.loads(bytes(bufs[stat_r])) if bufs[stat_r] else {}
    except ValueError:
        stat = {"error": "init sent a malformed status"}
    rep: dict = {"setup_error": stat.get("error"), "compile_error": None}
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
    if not select.select([pidfd], [], [], SETUP_TIMEOUT_S)[0]:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    cpu = float(stat.get("cpu_s") or 0.0)
    oom = False
    if cg:
        cpu = (int(_read(cg["cpuacct"] + "/cpuacct.usage")) - cpu0) / 1e9 + time.thread_time() - own0
        oom = _oom_kills(cg["memory"]) > oom0
    pst = stat.get("program")
    jst = stat.get("judge")
    rep.update(
        {
            "exit_code": os.WEXITSTATUS(pst) if pst is not None and os.WIFEXITED(pst) else None,
            "signal": os.WTERMSIG(pst) if pst is not None and os.WIFSIGNALED(pst) else None,
            "program_finished": pst is not None,
            "judge_exit": (os.WEXITSTATUS(jst) if os.WIFEXITED(jst) else -os.WTERMSIG(jst)) if jst is not None else None,
            "stderr_truncated": fds["err_r"] in overflow,
            "cpu_s": cpu,
            "wall_s": wall,
            "max_rss_kb": stat.get("max_rss_kb") or 0,
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
