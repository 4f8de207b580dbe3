"""Hostile programs against the real sandbox: each with the exact outcome required.

Every case asserts the verdict, a time bound, and that nothing is left running
under the slot uids afterwards. Network checks use route lookups (a UDP
connect() sends no packet) and loopback only.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest

from sandbox import Limits, Sandbox
from sandbox.client import JUDGE_UID_BASE, SLOT_UID_BASE


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def _slot_procs(sb: Sandbox | None = None) -> list[psutil.Process]:
    """Processes under a slot or judge uid (of this sandbox's zygote when given: others share the machine)."""
    out = []
    for p in psutil.process_iter(["uids"]):
        try:
            uid = p.info["uids"].real if p.info["uids"] else -1
            if not (SLOT_UID_BASE <= uid < SLOT_UID_BASE + 256 or JUDGE_UID_BASE <= uid < JUDGE_UID_BASE + 256):
                continue
            if sb is not None and sb._proc is not None and sb._proc.pid not in {a.pid for a in p.parents()}:
                continue
            out.append(p)
        except psutil.Error:
            pass
    return out


LIM = Limits(cpu_time_s=1.0, wall_time_s=3.0, memory_mb=256, tmpfs_mb=16, file_size_mb=8, stdout_bytes=1 << 20)

# (name, source, expected status, max wall seconds, predicate on stdout or None)
CASES = [
    ("fork_bomb", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass", {"time_limit", "runtime_error"}, 8, None),
    ("memory_bomb", "x = []\nwhile True: x.append(bytearray(10**7))", {"memory_limit"}, 5, None),
    ("one_huge_alloc", "x = bytearray(4 * 10**9)", {"memory_limit"}, 5, None),
    ("cpu_burn_threads", "import threading\ndef f():\n    while True: pass\nfor _ in range(8): threading.Thread(target=f).start()\nf()", {"time_limit"}, 5, None),
    ("cpu_burn", "while True: pass", {"time_limit"}, 5, None),
    ("sleep_forever", "import time\ntime.sleep(10**6)", {"time_limit"}, 5, None),
    ("block_on_stdin", "import sys\nsys.stdin.buffer.read()\nimport time\ntime.sleep(999)", {"time_limit"}, 5, None),
    ("gigabyte_of_output", "import sys\nb = 'x' * 65536\nwhile True: sys.stdout.write(b)", {"output_limit"}, 5, None),
    ("stderr_flood_is_truncated", "import sys\nfor _ in range(10**4): sys.stderr.write('e' * 1000)\nprint('done')", {"ok"}, 5, lambda o: o.strip() == b"done"),
    ("disk_fill_tmp", "f = open('/tmp/fill', 'wb')\nwhile True: f.write(b'x' * 2**20)", {"output_limit", "runtime_error"}, 5, None),
    ("write_outside_tmp", "open('/usr/evil', 'w')", {"runtime_error"}, 5, None),
    ("write_work_dir", "open('/work/evil', 'w')", {"runtime_error"}, 5, None),
    ("read_etc_shadow", "print(open('/etc/shadow').read())", {"runtime_error"}, 5, None),
    ("etc_has_no_secrets", "import os\nprint(sorted(os.listdir('/etc')))", {"ok"}, 5, lambda o: b"shadow" not in o and b"passwd" in o),
    ("no_host_home", "import os\nprint(os.path.exists('/root/.bashrc') or os.path.exists('/home'))", {"ok"}, 5, lambda o: o.strip() == b"False"),
    ("proc1_environ_clean", "print(open('/proc/1/environ','rb').read())", {"ok", "runtime_error"}, 5, lambda o: b"REDIS" not in o and b"VERIRL" not in o),
    ("own_environ_clean", "import os\nprint(sorted(os.environ))", {"ok"}, 5, lambda o: b"REDIS" not in o and b"KEY" not in o and b"VERIRL" not in o),
    ("cannot_see_host_processes", "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))", {"ok"}, 5, lambda o: int(o) <= 3),
    ("connect_local_redis", "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('127.0.0.1', 6379))\nprint('connected')", {"runtime_error"}, 5, lambda o: b"connected" not in o),
    ("no_route_out_udp_lookup", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.connect(('192.0.2.1', 53))\n    print('route')\nexcept OSError as e:\n    print('noroute', e.errno)", {"ok"}, 5, lambda o: o.startswith(b"noroute")),
    ("no_ipv6_route", "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ntry:\n    s.connect(('2001:db8::1', 53))\n    print('route')\nexcept OSError:\n    print('noroute')", {"ok"}, 5, lambda o: o.strip() == b"noroute"),
    ("only_loopback_device", "print(open('/proc/net/dev').read())", {"ok"}, 5, lambda o: b"eth" not in o and b"ens" not in o and b"veth" not in o),
    ("netlink_socket_denied", "import socket\nsocket.socket(16, socket.SOCK_RAW, 0)\nprint('opened')", {"runtime_error"}, 5, lambda o: b"opened" not in o),
    ("kill_parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('alive')", {"ok", "runtime_error"}, 5, None),
    ("kill_all", "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError: pass\nprint('x')", {"ok", "runtime_error"}, 5, None),
    ("ptrace_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.ptrace(16, 1, 0, 0))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("ctypes_unshare_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.unshare(0x40000000))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("ctypes_mount_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("ctypes_raw_syscall_bpf", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.syscall(321, 0, 0, 0))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("setuid_root_fails", "import os\ntry:\n    os.setuid(0)\n    print('root')\nexcept OSError:\n    print('denied')", {"ok"}, 5, lambda o: o.strip() == b"denied"),
    ("not_root_outside", "import os\nprint(os.getuid())", {"ok"}, 5, lambda o: int(o) >= SLOT_UID_BASE),
    ("double_fork_daemon", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1000)\n    os._exit(0)\nprint('parent done')", {"ok"}, 5, lambda o: b"parent done" in o),
    ("setsid_background_burner", "import os\nif os.fork() == 0:\n    os.setsid()\n    while True: pass\nprint('bye')", {"ok", "time_limit"}, 5, None),
    ("thread_bomb", "import threading, time\nts = []\ntry:\n    while True:\n        t = threading.Thread(target=time.sleep, args=(100,)); t.start(); ts.append(t)\nexcept RuntimeError:\n    print('limited', len(ts))", {"ok", "time_limit", "runtime_error"}, 6, None),
    ("open_files_limit", "fs = []\ntry:\n    while True: fs.append(open('/dev/null'))\nexcept OSError:\n    print('limited', len(fs))", {"ok"}, 5, lambda o: o.startswith(b"limited") and int(o.split()[1]) < 300),
    ("hostname_is_sandbox", "import socket\nprint(socket.gethostname())", {"ok"}, 5, lambda o: o.strip() == b"sandbox"),
    ("stack_overflow", "import sys\nsys.setrecursionlimit(10**8)\ndef f(n): return f(n + 1)\nf(0)", {"runtime_error", "memory_limit"}, 8, None),
    ("segfault", "import ctypes\nctypes.string_at(0)", {"runtime_error"}, 5, None),
    ("exit_code_nonzero", "import sys\nsys.exit(3)", {"runtime_error"}, 5, None),
    ("dev_write_full", "open('/dev/full','w').write('x'); print('x')", {"ok", "runtime_error"}, 5, None),
    ("read_host_sys", "import os\nprint(os.path.exists('/sys/fs/cgroup'))", {"ok"}, 5, lambda o: o.strip() == b"False"),
    # ---- issue 12: hardening
    ("no_capabilities_at_all", "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')])", {"ok"}, 5, lambda o: o.strip() == str(["0000000000000000"] * 5).encode()),
    ("no_host_path_in_mountinfo", "for l in open('/proc/self/mountinfo'):\n    f = l.split()\n    print(f[3] == f[4] or f[3] == '/' or f[4].startswith('/dev/'))", {"ok"}, 5, lambda o: set(o.split()) == {b"True"}),
    ("no_host_path_in_pid1_cmdline", "print(open('/proc/1/cmdline','rb').read())", {"ok"}, 5, lambda o: b"/work/" not in o and b"sys.path.insert(0, '/proc/self/fd/" in o),
    ("inotify_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.inotify_init1(0), libc.inotify_init())", {"ok"}, 5, lambda o: o.split() == [b"-1", b"-1"]),
    ("fanotify_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.syscall(300, 0, 0))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("regain_caps_by_userns_denied", "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.unshare(0x10000000))", {"ok"}, 5, lambda o: o.strip() == b"-1"),
    ("setup_channel_is_closed", "import os\ntry:\n    os.write(6, b'{\"setup_error\": \"forged\"}')\n    print('wrote')\nexcept OSError:\n    print('closed')", {"ok"}, 5, lambda o: o.strip() == b"closed"),
    ("setup_failure_forgery_is_runtime_error", "import sys, os\nsys.stderr.write('verirl-sandbox-setup-failed: x\\n'); sys.stderr.flush()\nos._exit(121)", {"runtime_error"}, 5, None),
    ("work_is_a_private_tmpfs", "import os\nprint(os.statvfs('/work').f_blocks > 0, os.listdir('/work'))", {"ok"}, 5, lambda o: o.strip() == b"True []"),
    ("no_inherited_fds", "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))", {"ok"}, 5, lambda o: o.strip() in (b"[0, 1, 2, 3]", b"[0, 1, 2]")),
    ("init_fds_unreachable", "import os\nout = []\nfor n in range(0, 12):\n    try: out.append(os.listdir(f'/proc/1/fd/{n}'))\n    except OSError: pass\n    try: out.append(open(f'/proc/1/fd/{n}', 'rb').read(10))\n    except OSError: pass\nprint(out)", {"ok"}, 5, lambda o: o.strip() == b"[]"),
    ("no_zygote_module_escape", "import sys\nz = sys.modules.get('sandbox.linux')\ntry:\n    z.mount('tmpfs', '/tmp', 'tmpfs')\n    print('mounted')\nexcept Exception as e:\n    print('denied')", {"ok"}, 5, lambda o: o.strip() == b"denied"),
    ("no_docker_socket", "import os\nprint(os.path.exists('/var/run/docker.sock') or os.path.exists('/run'))", {"ok"}, 5, lambda o: o.strip() == b"False"),
]


@pytest.mark.parametrize(("name", "src", "expected", "max_s", "pred"), CASES, ids=[c[0] for c in CASES])
def test_attack(sb, name, src, expected, max_s, pred):
    t0 = time.monotonic()
    res = sb.run_python(src, limits=LIM)
    elapsed = time.monotonic() - t0
    assert res.status in expected, (res.status, res.stderr[-500:], res.detail)
    assert elapsed < max_s, elapsed
    if pred is not None:
        assert pred(res.stdout), res.stdout[:500]
    # nothing left running under any slot uid
    deadline = time.monotonic() + 2
    while _slot_procs(sb) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _slot_procs(sb), [p.info for p in _slot_procs(sb)]


VMSPLICE_FLOOD = r"""
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
class Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = mmap.mmap(-1, 1 << 16)
buf.write(b"e" * (1 << 16))
iov = Iov(ctypes.addressof(ctypes.c_char.from_buffer(buf)), 1 << 16)
while True:
    libc.vmsplice(2, ctypes.byref(iov), 1, 0)
"""


def test_vmsplice_stderr_flood_is_charged_to_the_run(sb):
    # the program pushes pages into its stderr pipe for almost nothing; draining them is our work,
    # done in the run's CPU-accounting cgroup (and past the cap, spliced to /dev/null without a copy)
    t0 = time.monotonic()
    res = sb.run_python(VMSPLICE_FLOOD, limits=LIM)
    assert res.status == "time_limit", (res.status, res.detail)
    assert time.monotonic() - t0 < 8
    assert len(res.stderr) <= LIM.stderr_bytes


JUDGE_SPY = r"""
import json, os, sys
secret = sys.stdin.buffer.read()
os.write(4, b"go")
seen = b""
while True:
    chunk = os.read(5, 1 << 20)
    if not chunk:
        break
    seen += chunk
st = os.stat("/proc/self")
os.write(3, json.dumps({"leak": secret in seen, "uid": os.getuid(), "secret_ok": secret.startswith(b"JUDGE-SECRET")}).encode())
"""

PROGRAM_SPY = r"""
import ctypes, os, signal, sys
assert os.read(3, 2) == b"go"
me = os.getpid()
libc = ctypes.CDLL(None, use_errno=True)
got = []
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) in (me, 1):
        continue
    pid = int(p)
    for f in ("mem", "environ", "cmdline", "maps", "fd/0", "fd/5", "root/proc/self/environ", "cwd"):
        try:
            with open(f"/proc/{pid}/{f}", "rb") as fh:
                got.append(fh.read(1 << 20))
        except OSError as e:
            print("denied", f, e.errno)
    for f in ("fd/3", "fd/4"):
        try:
            fd = os.open(f"/proc/{pid}/{f}", os.O_WRONLY)
            os.write(fd, b'{"verdict": "accepted"}')
            print("WROTE", f)
        except OSError as e:
            print("denied", f, e.errno)
    try:
        os.kill(pid, signal.SIGSTOP)
        print("STOPPED")
    except OSError as e:
        print("denied kill", e.errno)
    print("ptrace", libc.ptrace(16, pid, 0, 0))
    buf = ctypes.create_string_buffer(4096)
    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    print("vm_readv", libc.process_vm_readv(pid, ctypes.byref(Iov(ctypes.addressof(buf), 4096)), 1, ctypes.byref(Iov(0x400000, 4096)), 1, 0))
blob = b"".join(got)
os.write(4, blob[-100000:])
sys.stdout.write("found" if b"JUDGE-SECRET" in blob else "nothing")
"""


def test_program_cannot_read_trace_signal_or_impersonate_its_judge(sb):
    import json

    secret = b"JUDGE-SECRET-" + os.urandom(8).hex().encode()
    with sb.submission("python", "pass", LIM) as sub:
        res = sub.run(source=PROGRAM_SPY, judge=JUDGE_SPY, judge_input=secret)
    assert res.status == "ok", (res.status, res.stderr[-2000:], res.judge_log[-2000:])
    out = res.stdout + res.stderr
    assert secret not in out and b"WROTE" not in out and b"STOPPED" not in out, out[-3000:]
    assert b"ptrace -1" in out and b"vm_readv -1" in out
    assert res.stdout.endswith(b"nothing"), res.stdout[-500:]
    verdict = json.loads(res.judge)
    assert verdict == {"leak": False, "uid": verdict["uid"], "secret_ok": True}
    assert verdict["uid"] >= JUDGE_UID_BASE


def test_no_state_between_runs(sb):
    a = sb.run_python("open('/tmp/state','w').write('1')\nimport builtins\nbuiltins.LEAK = 1\nprint('wrote')", limits=LIM)
    assert a.stdout.strip() == b"wrote"
    b = sb.run_python("import os, builtins\nprint(os.path.exists('/tmp/state'), hasattr(builtins, 'LEAK'))", limits=LIM)
    assert b.stdout.strip() == b"False False"


def test_host_unaffected(sb, tmp_path):
    marker = tmp_path / "host-file"
    marker.write_text("secret")
    res = sb.run_python(f"print(open({str(marker)!r}).read())", limits=LIM)
    assert res.status == "runtime_error" and b"secret" not in res.stdout
    assert marker.read_text() == "secret"


def test_loopback_server_in_sandbox_is_isolated(sb):
    # loopback is down inside: even a server the program starts itself is unreachable
    src = "import socket\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', 0)); s.listen()\n    c = socket.create_connection(s.getsockname(), timeout=1)\n    print('connected')\nexcept OSError as e:\n    print('down', e.errno)"
    res = sb.run_python(src, limits=LIM)
    assert res.stdout.startswith(b"down"), res.stdout


def test_isolation_report(sb):
    rep = sb.report
    assert set(rep["namespaces"]) == {"user", "pid", "net", "mount", "ipc", "uts"}
    assert "seccomp" in rep and rep["network"].startswith("none")


def test_refuses_without_root(monkeypatch):
    from sandbox import IsolationUnavailable

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(IsolationUnavailable):
        Sandbox()
