"""Nothing one run saw is reachable from the next run's address space, nor from the program's.

Run A holds random secrets in its source, its stdin and its output (and, judged,
in the test code, the arguments and the expected values). Run B scans
/proc/self/mem over every readable mapping for anything shaped like a secret.
B must find its own control secret (the scan works) and none of A's, whatever
the order and however many runs came between.
"""

from __future__ import annotations

import json
import secrets

import pytest

from sandbox import Limits, Sandbox

LIM = Limits(cpu_time_s=5.0, wall_time_s=15.0, memory_mb=512)
MARK = "VRLSECRET-"

SCAN = r'''
import re
mark = b"VRL" + b"SECRET-"
found = set()
mem = open("/proc/self/mem", "rb", buffering=0)
for line in open("/proc/self/maps").read().splitlines():
    addr, perms = line.split()[:2]
    if perms[0] != "r" or "[vvar" in line or "[vsyscall]" in line:
        continue
    lo, hi = (int(x, 16) for x in addr.split("-"))
    try:
        mem.seek(lo)
        data = mem.read(hi - lo)
    except (OSError, OverflowError, ValueError):
        continue
    for m in re.finditer(re.escape(mark) + rb"[0-9a-f]{32}", data or b""):
        found.add(m.group().decode())
import os
for d in ("/tmp", "/dev/shm", "/work"):
    for name in os.listdir(d):
        found.add("file:" + d + "/" + name)
print(" ".join(sorted(found)))
'''


def _secret() -> str:
    return MARK + secrets.token_hex(16)


@pytest.fixture(scope="module")
def sb():
    s = Sandbox()
    yield s
    s.close()


def _scan(sb: Sandbox) -> tuple[set[str], str]:
    control = _secret()
    res = sb.run_python(f"CONTROL = {control!r}\n" + SCAN, limits=LIM)
    assert res.status == "ok", (res.status, res.stderr[-2000:], res.detail)
    return set(res.stdout.decode().split()), control


def _run_a_stdio(sb: Sandbox) -> set[str]:
    s_src, s_in, s_out = _secret(), _secret(), _secret()
    src = f"X = {s_src!r}\nimport sys\nY = sys.stdin.read()\nprint(X, Y, '{MARK}' + {s_out[len(MARK):]!r}[::-1][::-1])\n"
    res = sb.run_python(src, stdin=s_in.encode(), limits=LIM)
    assert res.status == "ok" and s_in.encode() in res.stdout and s_out.encode() in res.stdout
    return {s_src, s_in, s_out}


def _run_a_judged(sb: Sandbox) -> set[str]:
    from verirl.code.grader import _harness

    s_src, s_arg, s_exp, s_test = _secret(), _secret(), _secret(), _secret()
    program = f"X = {s_src!r}\ndef f(a):\n    return a + '!'\n"
    spec = {"mode": "assert", "test": f"T = {s_test!r}\ndef check(candidate):\n    assert candidate({s_arg!r}) == {s_exp!r}\n", "entry_point": "f"}
    with sb.submission("python", program, LIM) as sub:
        res = sub.run(after=_harness("serve"), judge=_harness("judge"), judge_input=json.dumps(spec).encode())
    assert res.status == "ok" and b"wrong_answer" in res.judge, (res, res.judge_log)
    return {s_src, s_arg, s_exp, s_test}


def test_stdio_run_sees_nothing_of_earlier_runs(sb):
    earlier: set[str] = set()
    for _ in range(12):
        earlier |= _run_a_stdio(sb)
        earlier |= _run_a_judged(sb)
    found, control = _scan(sb)
    assert control in found  # the scan reads memory
    assert not (found & earlier), found & earlier
    assert not [f for f in found if f.startswith("file:")], found


def test_judged_program_sees_nothing_of_earlier_runs_nor_of_its_judge(sb):
    from verirl.code.grader import _harness

    earlier: set[str] = set()
    for _ in range(6):
        earlier |= _run_a_stdio(sb)
        earlier |= _run_a_judged(sb)
    control = _secret()
    s_test, s_exp = _secret(), _secret()
    program = f"CONTROL = {control!r}\n" + SCAN.replace("print(", "RESULT = (") + "\ndef f(a):\n    return RESULT\n"
    spec = {"mode": "assert", "test": f"T = {s_test!r}\ndef check(candidate):\n    assert candidate(0) == {s_exp!r}, candidate(0)\n", "entry_point": "f"}
    with sb.submission("python", program, LIM) as sub:
        res = sub.run(after=_harness("serve"), judge=_harness("judge"), judge_input=json.dumps(spec).encode())
    assert res.status == "ok", (res, res.judge_log)
    verdict = json.loads(res.judge)
    assert verdict["verdict"] == "wrong_answer"
    found = set(verdict["note"].replace("AssertionError: ", "").split())  # the program's answer, as the judge saw it
    assert control in found
    assert not (found & (earlier | {s_test, s_exp})), found & (earlier | {s_test, s_exp})


def test_message_left_by_one_run_is_gone_for_the_next(sb):
    leave = (
        "import os, socket, mmap\n"
        "open('/tmp/msg', 'w').write('hi')\n"
        "open('/dev/shm/msg', 'w').write('hi')\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind('\\0verirl-msg')\n"
        "if os.fork() == 0:\n    os.setsid()\n    import time; time.sleep(30)\n"
        "print('left')\n"
    )
    assert sb.run_python(leave, limits=LIM).stdout.strip() == b"left"
    look = (
        "import os, socket\n"
        "seen = [p for p in ('/tmp/msg', '/dev/shm/msg') if os.path.exists(p)]\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "try:\n    s.connect('\\0verirl-msg'); seen.append('socket')\nexcept OSError: pass\n"
        "seen += [p for p in os.listdir('/proc') if p.isdigit() and int(p) > 2]\n"
        "print(seen)\n"
    )
    assert sb.run_python(look, limits=LIM).stdout.strip() == b"[]"
