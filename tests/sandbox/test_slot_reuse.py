"""A slot's isolation is built once and reused: no run sees a trace of the run before it in the slot.

The sandbox here has one slot, so every run goes through the same keeper (its
network, IPC, UTS and cgroup namespaces, its cgroups and its read-only root);
each test checks that the reuse is real (same keeper, same namespaces) and that
the next run finds nothing of the earlier one: files in /work, /tmp and /dev/shm,
links, SysV and POSIX IPC objects, processes, environment, memory.
"""

from __future__ import annotations

import json

import psutil
import pytest

from sandbox import Limits, Sandbox
from sandbox.client import JUDGE_UID_BASE, SLOT_UID_BASE
from tests.sandbox.test_no_inheritance import _run_a_judged, _run_a_stdio, _scan

LIM = Limits(cpu_time_s=5.0, wall_time_s=15.0, memory_mb=256)

NAMESPACES = r"""
import os, json
print(json.dumps({n: os.readlink(f"/proc/self/ns/{n}") for n in ("net", "ipc", "uts", "cgroup")}))
"""


@pytest.fixture(scope="module")
def sb():
    s = Sandbox(slots=1)
    yield s
    s.close()


def _run(sb: Sandbox, src: str, **kw):
    res = sb.run_python(src, limits=kw.pop("limits", LIM), **kw)
    return res


def _namespaces(sb: Sandbox) -> dict:
    res = _run(sb, NAMESPACES)
    assert res.status == "ok", (res.status, res.stderr, res.detail)
    return json.loads(res.stdout)


class _SameSlot:
    """Checks, around a pair of runs, that they went through the same keeper and namespaces."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def __enter__(self):
        self.ns = _namespaces(self.sb)
        self.keeper = self.sb._keepers[0]
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            return
        after = _namespaces(self.sb)
        assert self.sb._keepers[0] is self.keeper and self.keeper.alive()
        # built once: the same for every run in the slot (the keeper holds them, so an equal inode number
        # is the same namespace; the PID and mount namespaces are each run's own, their numbers get reused)
        for n in ("net", "ipc", "uts", "cgroup"):
            assert after[n] == self.ns[n], (n, after, self.ns)


LEAVE_FILES = r"""
import os
for d in ("/tmp", "/dev/shm", "/work"):
    with open(f"{d}/left-behind", "w") as f:
        f.write("x" * 1000)
    os.makedirs(f"{d}/sub/dir", exist_ok=True)
    os.mkfifo(f"{d}/fifo")
os.symlink("/tmp/left-behind", "/tmp/link")
print(sorted(os.listdir("/")))
"""

LOOK_FILES = r"""
import json, os
print(json.dumps({d: sorted(os.listdir(d)) for d in ("/tmp", "/dev/shm", "/work", "/")}))
"""


def test_files_links_and_work_dir_are_fresh(sb):
    with _SameSlot(sb):
        base = _run(sb, "import os\nprint(sorted(os.listdir('/')))")
        with sb.submission("python", "pass", LIM) as sub:
            a = sub.run(source=LEAVE_FILES, writable=True, links=["data", "out.txt"])
        assert a.status == "ok", (a.stderr, a.detail)
        assert b"'data'" in a.stdout and b"'out.txt'" in a.stdout  # the links were there for that run
        b = _run(sb, LOOK_FILES)
        assert b.status == "ok", (b.stderr, b.detail)
        seen = json.loads(b.stdout)
        assert seen["/tmp"] == seen["/dev/shm"] == seen["/work"] == [], seen
        assert str(seen["/"]) == base.stdout.decode().strip(), (seen, base.stdout)  # no link of run A
        with sb.submission("python", "pass", LIM) as sub:  # a run with its own work dir sees only that
            c = sub.run(source=LOOK_FILES)
        assert json.loads(c.stdout)["/work"] == ["main.py"], c.stdout


LEAVE_IPC = r"""
import ctypes, os, sys
from multiprocessing import shared_memory
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
shm = libc.shmget(0x5EED, 4096, IPC_CREAT | 0o666)
sem = libc.semget(0x5EED, 3, IPC_CREAT | 0o666)
msg = libc.msgget(0x5EED, IPC_CREAT | 0o666)
assert min(shm, sem, msg) >= 0, ctypes.get_errno()
addr = libc.shmat(shm, None, 0)  # still attached when the run ends
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("text", ctypes.c_char * 16)]
assert libc.msgsnd(msg, ctypes.byref(Msg(1, b"left behind")), 16, 0) == 0
posix = shared_memory.SharedMemory(name="verirl-left", create=True, size=4096)
posix.buf[:4] = b"left"
libc.mq_open.restype = ctypes.c_int
mq = libc.mq_open(b"/verirl-left", os.O_CREAT | os.O_RDWR, 0o666, None)
assert mq >= 0, ctypes.get_errno()
assert libc.mq_send(mq, b"left behind", 11, 0) == 0
many = 0
while many < 5000 and libc.shmget(0, 4096, IPC_CREAT | 0o600) >= 0:  # and as many more as the slot allows
    many += 1
if os.fork() == 0:  # a daemon holding them
    os.setsid()
    import time
    time.sleep(1000)
print("left", many, open("/proc/sysvipc/shm").read().count("\n") - 1)
sys.stdout.flush()
"""

LOOK_IPC = r"""
import ctypes, errno, os
from multiprocessing import shared_memory
libc = ctypes.CDLL(None, use_errno=True)
seen = []
for kind in ("shm", "sem", "msg"):
    rows = open(f"/proc/sysvipc/{kind}").read().splitlines()[1:]
    seen += [kind + ":" + r.split()[1] for r in rows]
for name, call in (("shmget", lambda: libc.shmget(0x5EED, 0, 0)), ("semget", lambda: libc.semget(0x5EED, 0, 0)), ("msgget", lambda: libc.msgget(0x5EED, 0))):
    if call() >= 0 or ctypes.get_errno() != errno.ENOENT:
        seen.append(name)
try:
    shared_memory.SharedMemory(name="verirl-left")
    seen.append("posix shm")
except FileNotFoundError:
    pass
libc.mq_open.restype = ctypes.c_int
if libc.mq_open(b"/verirl-left", os.O_RDONLY, 0, None) >= 0 or ctypes.get_errno() != errno.ENOENT:
    seen.append("mqueue")
# and the slot's IPC namespace still has room for this run's own objects
ok = libc.shmget(0, 4096, 0o1000 | 0o600) >= 0 and libc.semget(0, 1, 0o1000 | 0o600) >= 0 and libc.msgget(0, 0o1000 | 0o600) >= 0
print(seen, ok)
"""


def test_ipc_objects_are_gone_for_the_next_run(sb):
    with _SameSlot(sb):
        a = _run(sb, LEAVE_IPC)
        assert a.status == "ok", (a.stderr, a.detail)
        assert a.stdout.startswith(b"left") and int(a.stdout.split()[2]) > 100, a.stdout  # they were there
        b = _run(sb, LOOK_IPC)
        assert b.status == "ok", (b.stderr, b.detail)
        assert b.stdout.strip() == b"[] True", b.stdout


def test_ipc_of_a_run_killed_at_its_deadline_is_gone_too(sb):
    with _SameSlot(sb):
        a = _run(sb, LEAVE_IPC + "\nimport time\ntime.sleep(1000)\n", limits=Limits(cpu_time_s=1.0, wall_time_s=2.0, memory_mb=256))
        assert a.status == "time_limit" and a.stdout.startswith(b"left"), (a.status, a.stdout, a.stderr)
        b = _run(sb, LOOK_IPC)
        assert b.stdout.strip() == b"[] True", (b.status, b.stdout, b.stderr)


LEAVE_PROCESS = r"""
import ctypes, os, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, b"verirl-ghost")  # PR_SET_NAME
        os.write(w, b"%d" % os.getpid())
        while True:
            time.sleep(0.01)
    os._exit(0)
os.close(w)
print("daemon", os.read(r, 16).decode())
"""

LOOK_PROCESSES = r"""
import os
procs = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            procs[int(p)] = open(f"/proc/{p}/comm").read().strip()
        except OSError:
            procs[int(p)] = "?"
print(sorted(procs.items()))
"""


def _ghosts(sb: Sandbox) -> list:
    """Processes on the host named by the daemon, or under this sandbox's slot uids."""
    out = []
    for p in psutil.process_iter(["name", "uids"]):
        try:
            uid = p.info["uids"].real if p.info["uids"] else -1
            ours = uid in (SLOT_UID_BASE, JUDGE_UID_BASE) and sb._proc.pid in {a.pid for a in p.parents()}
            if p.info["name"] == "verirl-ghost" or ours:
                out.append(p.info)
        except psutil.Error:
            pass
    return out


def test_no_process_of_a_run_survives_it(sb):
    with _SameSlot(sb):
        a = _run(sb, LEAVE_PROCESS)
        assert a.status == "ok" and a.stdout.startswith(b"daemon"), (a.status, a.stdout, a.stderr)
        # dead on the host as soon as the run has answered (its init killed it before reporting)
        assert _ghosts(sb) == []
        b = _run(sb, LOOK_PROCESSES)
        assert b.status == "ok", (b.stderr, b.detail)
        procs = dict(eval(b.stdout))  # noqa: S307 - our own probe's output
        assert "verirl-ghost" not in procs.values(), procs
        assert sorted(procs) == [1, 2], procs  # init and the program itself, numbered afresh
    assert _ghosts(sb) == []


def test_environment_is_fresh(sb):
    with _SameSlot(sb):
        a = _run(sb, "import os\nos.environ['LEAKED'] = 'yes'\nos.putenv('PUTENV_LEAK', 'yes')\nos.environ['PATH'] = '/evil'\nprint('set')")
        assert a.stdout.strip() == b"set"
        b = _run(sb, "import os, json\nprint(json.dumps(dict(os.environ)))")
        assert json.loads(b.stdout) == {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
    with sb.submission("bash", "export LEAKED=yes\necho $LEAKED > /tmp/x\necho set") as sub:
        assert sub.run().stdout.strip() == b"set"
    with sb.submission("bash", "env | cut -d= -f1 | sort | tr '\\n' ' '\nls /tmp") as sub:
        res = sub.run()
    assert res.status == "ok" and b"LEAKED" not in res.stdout and res.stdout.split() == [b"HOME", b"LANG", b"PATH", b"PWD", b"SHLVL", b"TMPDIR", b"_"], res.stdout


def test_memory_scan_finds_nothing_of_earlier_runs_in_the_same_slot(sb):
    with _SameSlot(sb):
        earlier: set[str] = set()
        for _ in range(6):
            earlier |= _run_a_stdio(sb)
            earlier |= _run_a_judged(sb)
        found, control = _scan(sb)
    assert control in found  # the scan reads memory
    assert not (found & earlier), found & earlier
    assert not [f for f in found if f.startswith("file:")], found


def test_a_hostile_run_leaves_the_slot_usable(sb):
    # whatever the program did to the slot's shared namespaces, the next run is judged as usual
    hostile = (
        "import ctypes, os, socket\nlibc = ctypes.CDLL(None)\n"
        "for i in range(20000):\n    libc.semget(0, 1, 0o1000 | 0o600)\n"
        "for i in range(300):\n    libc.mq_open(b'/q%d' % i, os.O_CREAT | os.O_RDWR, 0o600, None)\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind('\\0verirl-slot'); s.listen()\n"
        "print('done')\n"
    )
    with _SameSlot(sb):
        assert _run(sb, hostile).stdout.strip() == b"done"
        nxt = _run(sb, "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.bind('\\0verirl-slot')\nprint(input())", stdin=b"fine\n")
        assert (nxt.status, nxt.stdout) == ("ok", b"fine\n"), (nxt.status, nxt.stdout, nxt.stderr)
