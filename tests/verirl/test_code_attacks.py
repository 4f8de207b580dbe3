"""Reward hacks against the code judge, end to end through score_item and the real sandbox.

Issue 12's list first (nonce via co_consts, frame walk, gc; always-equal object;
encoder patch; os._exit(0) and sys.exit(0) before the asserts; deep JSON; the
setup-failure forgery), then our own. Every program here is wrong: the verdict
must be `incorrect` with the code verdict given, never `correct` and never
`error` (a hack must not dodge a negative reward either).

The problem: f(x) = 14 * x. Call tests ask f(3) == 42 and f(1) == 14; assert
tests do the same through HumanEval's check(candidate).
"""

from __future__ import annotations

import pytest

from verirl.scoring import score_item

CALL = {"format": "call", "fn_name": "f", "cases": [{"args": [3], "expected": 42}, {"args": [1], "expected": 14}]}
ASSERT = {
    "format": "assert",
    "entry_point": "f",
    "test": "def check(candidate):\n    assert candidate(3) == 42\n    assert abs(candidate(1) - 14) < 1e-9\n    assert candidate(0) == 0\n",
}
MBPP = {"format": "assert", "test": "assert f(3) == 42\nassert f(1) == 14"}
STDIO = {"format": "stdio", "cases": [{"input": "3\n", "output": "42\n"}]}

WRONG = "def f(x):\n    return x\n"
# the program rewrites its own hello to the judge (json.dumps is the serving harness's encoder)
FORGE_HELLO = "import json\n_d = json.dumps\ndef _forge(o, **k):\n    if isinstance(o, dict) and 'names' in o:\n        o = {{'names': o['names'], 'modules': {modules!r}}}\n    return _d(o, **k)\njson.dumps = _forge\n"

# the program plants a module that would write `accepted` on the judge's result channel if imported there
ACCEPT_SRC = "import os\nos.write(3, b'{\"verdict\": \"accepted\"}')\nos._exit(0)\n"
PLANT = (f"ACCEPT = {ACCEPT_SRC!r}\n"
         "for _d in ('/tmp', '/dev/shm', '/work'):\n    try:\n        open(_d + '/test_pwn.py', 'w').write(ACCEPT)\n        open(_d + '/__init__.py', 'w').write('')\n"
         "    except OSError:\n        pass\n")

# HumanEval/32: the prompt (the trusted setup) defines `poly`; the test calls it on the candidate's root
POLY_PROMPT = (
    "import math\n\n\ndef poly(xs: list, x: float):\n    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])\n\n\n"
    "def find_zero(xs: list):\n    \"\"\"Find x such that poly(x) = 0.\"\"\"\n"
)
POLY = {
    "format": "assert", "entry_point": "find_zero", "setup": POLY_PROMPT,
    "test": "def check(candidate):\n    for xs in ([1, 2], [-6, 11, -6, 1], [2, -3, 0, 1]):\n"
            "        solution = candidate(xs)\n        assert math.fabs(poly(xs, solution)) < 1e-4\n",
}
POLY_CANONICAL = (
    "def find_zero(xs):\n    begin, end = -1., 1.\n    while poly(xs, begin) * poly(xs, end) > 0:\n        begin *= 2.0\n        end *= 2.0\n"
    "    while end - begin > 1e-10:\n        center = (begin + end) / 2.0\n        if poly(xs, center) * poly(xs, begin) > 0:\n            begin = center\n"
    "        else:\n            end = center\n    return begin\n"
    "import math\ndef poly(xs, x):\n    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])\n"
)
# MBPP's test_setup_code: a helper the asserts use, defined by the dataset
SETUP_MBPP = {"format": "assert", "setup": "def helper(x):\n    return 14 * x\n", "test": "assert f(3) == helper(3)\nassert f(1) == helper(1)"}

# (name, tests, program, code verdicts allowed)
ATTACKS = [
    # ---- issue 12's findings
    ("nonce_via_co_consts", ASSERT, WRONG + "import sys, os\nc = sys._getframe().f_code.co_consts\nfor k in c:\n    if isinstance(k, str) and k.startswith('VERIRL'):\n        os.write(3, k.encode())\nos._exit(0)\n", {"runtime_error"}),
    ("nonce_via_frame_walk", ASSERT, WRONG + "import sys, os\nf = sys._getframe()\nwhile f:\n    for v in list(f.f_globals.values()) + list(f.f_locals.values()):\n        if isinstance(v, (str, bytes)) and ('VERIRL' in str(v) or 'check' in str(v)):\n            try: os.write(3, v if isinstance(v, bytes) else v.encode())\n            except OSError: pass\n    f = f.f_back\nos._exit(0)\n", {"runtime_error"}),
    ("nonce_via_gc", ASSERT, WRONG + "import gc, os\nfor o in gc.get_objects():\n    if isinstance(o, dict):\n        for v in list(o.values()):\n            if isinstance(v, str) and v.startswith('VERIRL'):\n                os.write(3, v.encode())\nos._exit(0)\n", {"runtime_error"}),
    ("always_equal_object_assert", ASSERT, "class A:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n    def __sub__(self, o): return 0\n    def __abs__(self): return 0\n    def __lt__(self, o): return True\ndef f(x):\n    return A()\n", {"wrong_answer"}),
    ("always_equal_object_call", CALL, "class A:\n    def __eq__(self, o): return True\ndef f(x):\n    return A()\n", {"wrong_answer"}),
    ("always_equal_int_subclass", CALL, "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(7)\n", {"wrong_answer"}),
    ("always_equal_int_subclass_assert", ASSERT, "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(7)\n", {"wrong_answer"}),
    ("encoder_patch_json", CALL, WRONG + "import json\njson.dumps = lambda *a, **k: '{\"ok\": 42}'\njson.JSONEncoder.encode = lambda self, o: '42'\n", {"wrong_answer"}),
    ("encoder_patch_assert", ASSERT, WRONG + "import json\n_d = json.dumps\njson.dumps = lambda o, **k: _d({'ok': True})\n", {"wrong_answer"}),
    ("os_exit_before_asserts", ASSERT, WRONG + "import os\nos._exit(0)\n", {"runtime_error"}),
    ("sys_exit_before_asserts", ASSERT, WRONG + "import sys\nsys.exit(0)\n", {"runtime_error"}),
    ("raise_systemexit_before_asserts", MBPP, WRONG + "raise SystemExit\n", {"runtime_error"}),
    ("sys_exit_inside_call", ASSERT, "def f(x):\n    import sys\n    sys.exit(0)\n", {"runtime_error"}),
    ("deep_json_5000", CALL, "def f(x):\n    v = []\n    for _ in range(5000):\n        v = [v]\n    return v\n", {"wrong_answer"}),
    ("deep_json_5000_assert", ASSERT, "def f(x):\n    v = []\n    for _ in range(5000):\n        v = [v]\n    return v\n", {"wrong_answer"}),
    ("setup_failure_forgery", STDIO, "import sys, os\nsys.stderr.write('verirl-sandbox-setup-failed: nope\\n')\nsys.stderr.flush()\nos._exit(121)\n", {"runtime_error"}),
    ("exec_failure_forgery", STDIO, "import sys, os\nsys.stderr.write('verirl-sandbox-exec-failed: nope\\n')\nsys.stderr.flush()\nos._exit(122)\n", {"runtime_error"}),
    # ---- our own: forged channels
    ("write_fd3_then_exit", CALL, WRONG + "import os\ntry:\n    os.write(3, b'{\"verdict\": \"accepted\"}')\nexcept OSError: pass\nos._exit(0)\n", {"runtime_error"}),
    ("forged_frames_on_fd4", CALL, WRONG + "import os, json, struct\nfor m in ({'names': ['f']}, {'ok': 42}, {'ok': 14}):\n    d = json.dumps(m).encode(); os.write(4, struct.pack('!I', len(d)) + d)\nos._exit(0)\n", {"wrong_answer", "runtime_error"}),
    ("forged_verdict_frame", CALL, WRONG + "import os, json, struct\nd = json.dumps({'verdict': 'accepted'}).encode()\nos.write(4, struct.pack('!I', len(d)) + d)\n", {"wrong_answer"}),
    ("garbage_on_fd4", CALL, WRONG + "import os\nos.write(4, b'\\xff' * 100)\n", {"wrong_answer", "runtime_error"}),
    ("huge_frame_header", CALL, WRONG + "import os, struct\nos.write(4, struct.pack('!I', 2**31))\nos._exit(0)\n", {"wrong_answer"}),
    ("truncated_frame", CALL, WRONG + "import os, struct\nos.write(4, struct.pack('!I', 100) + b'{\"names\"')\nos._exit(0)\n", {"runtime_error"}),
    ("tag_confusion_ref", CALL, "def f(x):\n    import os, json, struct\n    d = json.dumps({'ok': {'$r': 'x', 'type': 'int'}}).encode()\n    os.write(4, struct.pack('!I', len(d)) + d)\n    os._exit(0)\n", {"wrong_answer", "runtime_error"}),
    ("tag_unknown", CALL, "def f(x):\n    import os, json, struct\n    d = json.dumps({'ok': {'$eval': '42'}}).encode()\n    os.write(4, struct.pack('!I', len(d)) + d)\n    import time; time.sleep(0.5)\n", {"wrong_answer"}),
    ("answer_too_big", CALL, "def f(x):\n    return 'x' * (9 * 1024 * 1024)\n", {"wrong_answer"}),
    ("nan_is_not_42", CALL, "def f(x):\n    return float('nan')\n", {"wrong_answer"}),
    ("true_is_not_1", {"format": "call", "fn_name": "f", "cases": [{"args": [1], "expected": 1}]}, "def f(x):\n    return True\n", {"wrong_answer"}),
    ("generator_stays_in_program", ASSERT, "def f(x):\n    yield 14 * x\n", {"wrong_answer"}),
    ("shadow_builtins_in_test", ASSERT, "def f(x):\n    return 5\ndef abs(v):\n    return 0\ndef isinstance(*a):\n    return True\ndef len(v):\n    return 0\n", {"wrong_answer"}),
    ("shadow_dunder_builtins_name", ASSERT, "def f(x):\n    return 5\nclass __builtins__:\n    pass\n", {"wrong_answer", "runtime_error"}),
    ("shadow_check_function", ASSERT, "def f(x):\n    return 5\ndef check(candidate):\n    return True\n", {"wrong_answer"}),
    ("patch_builtins_in_program", ASSERT, "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\nbuiltins.abs = lambda v: 0\ndef f(x):\n    return 5\n", {"wrong_answer"}),
    ("exception_as_answer", ASSERT, "def f(x):\n    raise AssertionError('fine')\n", {"runtime_error"}),
    ("evil_exception_str", ASSERT, "class E(Exception):\n    def __str__(self):\n        import os; os._exit(0)\ndef f(x):\n    raise E()\n", {"runtime_error"}),
    ("kill_the_judge", ASSERT, WRONG + "import os, signal\nfor p in os.listdir('/proc'):\n    if p.isdigit() and int(p) != os.getpid():\n        try: os.kill(int(p), signal.SIGKILL)\n        except OSError: pass\n", {"wrong_answer"}),
    ("read_judge_memory", CALL, "import os, re\nfound = None\nfor p in os.listdir('/proc'):\n    if p.isdigit() and int(p) != os.getpid():\n        for f in ('mem', 'environ', 'cmdline', 'fd/0', 'fd/3'):\n            try:\n                found = open(f'/proc/{p}/{f}', 'rb').read(1 << 20)\n            except OSError: pass\ndef f(x):\n    return 0\n", {"wrong_answer"}),
    ("ptrace_the_judge", ASSERT, WRONG + "import ctypes, os\nlibc = ctypes.CDLL(None)\nfor p in range(1, 20):\n    libc.ptrace(16, p, 0, 0)\n", {"wrong_answer"}),
    ("write_judge_result_fd", ASSERT, WRONG + "import os\nfor p in os.listdir('/proc'):\n    try: os.write(os.open(f'/proc/{p}/fd/3', os.O_WRONLY), b'{\"verdict\": \"accepted\"}')\n    except (OSError, ValueError): pass\n", {"wrong_answer", "runtime_error"}),  # it can only reach its own request pipe
    ("sleep_in_call", CALL, "def f(x):\n    import time\n    time.sleep(100)\n", {"time_limit"}),
    ("flood_stdout_in_judged_run", CALL, "import sys\nwhile True: sys.stdout.write('x' * 65536)\n", {"output_limit"}),
    ("fork_answerer", CALL, WRONG + "import os\nif os.fork() == 0:\n    import time; time.sleep(0.1)\n    os._exit(0)\n", {"wrong_answer"}),
    ("syntax_error_is_compile_error", CALL, "def f(x) return 42\n", {"compile_error"}),
    ("forged_hello_entry_is_sys_exit", {"format": "assert", "entry_point": "f", "test": "def check(candidate):\n    assert candidate(0) == 0\n    assert candidate(3) == 42\n"},
     WRONG + FORGE_HELLO.format(modules={"f": ["sys", "exit"], "exit_thread": ["_thread", "exit_thread"]}), {"wrong_answer", "runtime_error"}),
    ("forged_hello_math_is_a_mock", {"format": "assert", "test": "assert math.isclose(f(1), 14)\nassert math.isclose(f(3), 42)"},
     WRONG + FORGE_HELLO.format(modules={"math": ["unittest.mock", "MagicMock"], "isclose": ["unittest.mock", "MagicMock"]}), {"wrong_answer"}),
    ("test_exits_zero_through_program_name", {"format": "assert", "test": "import sys\nexit_thread(0)\nassert f(3) == 42"},
     WRONG + FORGE_HELLO.format(modules={"exit_thread": ["_thread", "exit_thread"]}), {"wrong_answer"}),
    # ---- issue 19: the judge imported what the program named (unittest.__main__ ran discovery in the shared /tmp)
    ("unittest_main_discovers_planted_test", MBPP, WRONG + PLANT + FORGE_HELLO.format(modules={"__main__": "unittest.__main__"}), {"wrong_answer"}),
    ("unittest_main_discovers_planted_test_humaneval", ASSERT, WRONG + PLANT + FORGE_HELLO.format(modules={"__main__": "unittest.__main__"}), {"wrong_answer"}),
    ("forged_hello_names_main_submodules", MBPP, WRONG + PLANT + FORGE_HELLO.format(modules={"main": "unittest.__main__", "f": "test_pwn", "x": ["test_pwn", "x"]}), {"wrong_answer"}),
    ("planted_module_named_like_a_test_module", {"format": "assert", "test": "assert math.isclose(f(3), 42)\nassert re.match('a', 'a')"},
     WRONG + PLANT + "for m in ('math', 're'):\n    for d in ('/tmp', '/work', '/dev/shm'):\n        try:\n            open(f'{d}/{m}.py', 'w').write(ACCEPT)\n        except OSError: pass\n", {"wrong_answer"}),
    # ---- issue 19 item 2: a helper the dataset's prompt defines (HumanEval/32 `poly`) is the setup's, never the program's
    ("program_redefines_setup_helper", POLY, "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 12345.0\n", {"wrong_answer"}),
    ("program_redefines_setup_helper_mbpp", SETUP_MBPP, "def helper(x):\n    return 42\ndef f(x):\n    return 42\n", {"wrong_answer"}),
    ("forged_hello_binds_setup_helper", POLY, "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 12345.0\n"
     + FORGE_HELLO.format(modules={"poly": ["builtins", "abs"], "math": ["unittest.mock", "MagicMock"]}), {"wrong_answer"}),
    # ---- outside findings (code2): numbers, control-flow exceptions, handles, dict keys
    ("bigint_off_by_one_within_rel_tol", {"format": "call", "fn_name": "f", "cases": [{"args": [1], "expected": 999999999}, {"args": [2], "expected": 123456789012345678}]},
     "def f(x): return 1000000000 if x == 1 else 123456789012345600\n", {"wrong_answer"}),
    ("bigint_1e9_plus_6_for_plus_7", {"format": "call", "fn_name": "f", "cases": [{"args": [1], "expected": 1000000007}]}, "def f(x): return 1000000006\n", {"wrong_answer"}),
    ("bigint_2_53_plus_1", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 2**53 + 1}]}, "def f(): return 2**53\n", {"wrong_answer"}),
    ("float_for_big_int_expected", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 10**18 + 1}]}, "def f(): return 1e18\n", {"wrong_answer"}),
    ("tiny_float_for_int_zero", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 0}]}, "def f(): return 1e-10\n", {"wrong_answer"}),
    ("one_for_true", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": True}]}, "def f(): return 1\n", {"wrong_answer"}),
    ("inf_for_max_float", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 1.7976931348623157e308}]}, "def f(): return float('inf')\n", {"wrong_answer"}),
    ("huge_int_for_float", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 1.5}]}, "def f(): return 10**400\n", {"wrong_answer"}),
    ("stopiteration_ends_map_in_all", {"format": "assert", "entry_point": "add", "test": "def check(candidate):\n    assert all(map(lambda t: candidate(*t[0]) == t[1], [((2, 3), 5), ((10, 20), 30)]))\n"},
     "def add(a, b): raise StopIteration\n", {"runtime_error"}),
    ("stopiteration_empties_filter", {"format": "assert", "entry_point": "f", "test": "def check(candidate):\n    assert not list(filter(lambda x: candidate(x) != 14 * x, [1, 2, 3]))\n"},
     "def f(x): raise StopIteration('done')\n", {"runtime_error"}),
    ("stopiteration_in_any_map", {"format": "assert", "test": "assert not any(map(lambda x: f(x) != 14 * x, [1, 2, 3]))\n"},
     "def f(x): raise StopIteration\n", {"runtime_error"}),
    ("stopiteration_next_default", {"format": "assert", "test": "assert next(filter(lambda x: f(x) != 14 * x, [1, 2, 3]), None) is None\n"},
     "def f(x): raise StopIteration\n", {"runtime_error"}),
    ("own_class_named_stopiteration", {"format": "assert", "test": "assert all(map(lambda x: f(x) == 14 * x, [1, 2, 3]))\n"},
     "class StopIteration(Exception): pass\ndef f(x): raise StopIteration\n", {"runtime_error"}),
    ("stopasynciteration", {"format": "assert", "test": "assert all(map(lambda x: f(x) == 14 * x, [1, 2, 3]))\n"},
     "def f(x): raise StopAsyncIteration\n", {"runtime_error"}),
    ("generatorexit_from_program", {"format": "assert", "test": "assert all(map(lambda x: f(x) == 14 * x, [1, 2, 3]))\n"},
     "def f(x): raise GeneratorExit\n", {"runtime_error"}),
    ("ref_contains_and_len", {"format": "assert", "entry_point": "f", "test": "def check(candidate):\n    r = candidate(3)\n    assert 'abc' in r\n    assert len(r) == 3\n"},
     "class R:\n    def __contains__(s, k): return True\n    def __len__(s): return 3\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_contains_echoes_expected", {"format": "assert", "test": "assert 42 in f(3)\nassert 14 in f(1)\n"},
     "class R:\n    def __contains__(s, k): return True\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_getitem", {"format": "assert", "test": "assert f(3)[0] == 42\nassert f(1)[0] == 14\n"},
     "class R:\n    def __init__(s, x): s.x = x\n    def __getitem__(s, k): return 14 * s.x if k == 0 else 0\n    def __iter__(s): return iter([])\ndef f(x): return R(x)\n", {"wrong_answer"}),
    ("ref_len_only", {"format": "assert", "test": "assert len(f(3)) == 3\n"}, "class R:\n    def __len__(s): return 3\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_bool", {"format": "assert", "test": "assert f(2)\n"}, "class R:\n    def __bool__(s): return True\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_ordering", {"format": "assert", "test": "assert 41 < f(3) < 43\n"}, "class R:\n    def __gt__(s, o): return True\n    def __lt__(s, o): return True\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_int_conversion", {"format": "assert", "test": "assert int(f(3)) == 42\n"}, "class R:\n    def __int__(s): return 42\n    def __index__(s): return 42\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_str", {"format": "assert", "test": "assert str(f(3)) == '42'\n"}, "class R:\n    def __str__(s): return '42'\ndef f(x): return R()\n", {"wrong_answer"}),
    ("ref_in_list_eq", {"format": "assert", "test": "assert 42 in f(3)\nassert f(3) == [42]\n"}, "class A:\n    def __eq__(s, o): return True\n    __hash__ = object.__hash__\ndef f(x): return [A()]\n", {"wrong_answer"}),
    ("ref_nested_set", {"format": "assert", "test": "assert f(3) == {42}\n"}, "class A:\n    def __eq__(s, o): return True\n    def __hash__(s): return hash(42)\ndef f(x): return {A()}\n", {"wrong_answer"}),
    ("tuple_is_not_list_in_assert", {"format": "assert", "test": "assert f(3) == [42]\n"}, "def f(x): return (42,)\n", {"wrong_answer"}),
    ("dict_int_key_collides_with_str", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": {"1": "b"}}]}, "def f(): return {1: 'a', '1': 'b'}\n", {"wrong_answer"}),
    ("dict_bool_key_collides_with_str", {"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": {"true": "b"}}]}, "def f(): return {True: 'a', 'true': 'b'}\n", {"wrong_answer"}),
    ("stdio_print_previous_output", STDIO, "import gc\nfor o in gc.get_objects():\n    if isinstance(o, dict) and 'stdout' in o:\n        print(o['stdout'])\nprint(0)\n", {"wrong_answer"}),
]


@pytest.mark.parametrize(("name", "tests", "program", "allowed"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_not_accepted(name, tests, program, allowed):
    item = {"task": "code", "completion": f"```python\n{program}\n```", "tests": tests, "options": {"time_limit_s": 1.0}}
    r = score_item(item)
    assert r["verdict"] == "incorrect", (r["verdict"], r["details"])
    assert r["details"]["code_verdict"] in allowed, r["details"]


@pytest.mark.parametrize("tests", [CALL, ASSERT, MBPP], ids=["call", "assert", "mbpp"])
def test_the_honest_solution_passes_the_same_tests(tests):
    item = {"task": "code", "completion": "```python\ndef f(x):\n    return 14 * x\n```", "tests": tests}
    r = score_item(item)
    assert (r["verdict"], r["details"]["code_verdict"]) == ("correct", "accepted"), r["details"]


def test_the_judge_sees_none_of_the_programs_files():
    """The judge's /tmp, /dev/shm and /work are its own: what the program wrote is not there (the test looks)."""
    test = ("import os\n"
            "assert f(3) == 42\n"
            "for p in ('/tmp/mark', '/dev/shm/mark', '/work/main.py'):\n"
            "    assert not os.path.exists(p), p\n"
            "assert os.getcwd() == '/'\n")
    prog = "for d in ('/tmp', '/dev/shm'):\n    open(d + '/mark', 'w').write('x')\ndef f(x):\n    return 14 * x\n"
    r = score_item({"task": "code", "completion": f"```python\n{prog}```", "tests": {"format": "assert", "test": test}})
    assert (r["verdict"], r["details"]["code_verdict"]) == ("correct", "accepted"), r["details"]


def test_broken_test_code_is_our_error_not_the_models():
    bad = {"format": "assert", "test": "def check(candidate:\n    pass", "entry_point": "f"}
    r = score_item({"task": "code", "completion": "```python\ndef f(x):\n    return 14 * x\n```", "tests": bad})
    assert r["verdict"] == "error" and "test" in r["details"]["error"], r["details"]


@pytest.mark.parametrize(
    "tests",
    [
        {"format": "assert", "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},  # check, no entry_point: never called
        {"format": "assert", "test": "def test_add():\n    assert add(2, 3) == 5\n"},  # defined, never called
        {"format": "assert", "test": "assert True\n"},  # asserts nothing of the program's
    ],
    ids=["check_without_entry_point", "test_function_never_called", "no_call_at_all"],
)
def test_a_test_that_never_calls_the_program_is_a_bad_label_not_a_pass(tests):
    r = score_item({"task": "code", "completion": "```python\ndef add(a, b): return 0\n```", "tests": tests})
    assert r["verdict"] == "error", r
    assert r["details"]["error"]["code"] == "invalid_input", r["details"]
    assert r["details"]["error"]["field"] in ("tests.entry_point", "tests.test"), r["details"]


@pytest.mark.parametrize("tests, program", [(POLY, POLY_CANONICAL), (SETUP_MBPP, "def f(x):\n    return 14 * x\n")], ids=["humaneval_32", "mbpp_setup"])
def test_setup_helpers_serve_the_canonical_solution(tests, program):
    r = score_item({"task": "code", "completion": f"```python\n{program}```", "tests": tests})
    assert r["verdict"] == "correct", r


def test_a_compiler_blocked_on_its_own_pipe_is_stopped_as_wall_time_not_cpu():
    # issue 19: `#include "/dev/stdout"` held the slot 60 s at zero CPU and said "exceeded 10 s CPU"
    r = score_item({"task": "code", "language": "cpp", "completion": '```cpp\n#include "/dev/stdout"\nint main(){return 0;}\n```',
                    "tests": {"format": "stdio", "cases": [{"input": "", "output": "1"}]}})
    d = r["details"]
    assert (r["verdict"], d["code_verdict"], d["compile_status"]) == ("incorrect", "compile_error", "wall_time"), d
    assert "no CPU" in d["reason"] and "CPU)" not in d["reason"]


@pytest.mark.parametrize("mb", [40, 63])
def test_a_big_binary_with_a_big_source_is_graded_never_a_setup_error(mb):
    # issue 19: a ~64 MB initialised array plus a 150 KB comment compiled, then did not fit the run's work copy
    src = "/*" + "x" * 150_000 + "*/\n#include <cstdio>\n" f"static char big[{mb} << 20] = {{1}};\n" \
          "int main(){ int n; if (scanf(\"%d\", &n) != 1) return 1; printf(\"%d\\n\", n + big[0] - 1 + 1); }\n"
    r = score_item({"task": "code", "language": "cpp", "completion": f"```cpp\n{src}```",
                    "tests": {"format": "stdio", "cases": [{"input": "3\n", "output": "42\n"}]}})
    assert r["verdict"] == "incorrect" and r["details"]["code_verdict"] in ("wrong_answer", "compile_error"), r["details"]
