"""Issue 19's null-dodge sweep: nothing a completion contains makes its verdict `timeout` or `error`.

Under DAPO's -1/+1 (or any shaping where a wrong answer scores below a null), a policy learns to aim
for whatever the service cannot decide. Hostile completions for every task and language, graded by
the real verifier pool and the real sandbox: each must be `correct`, `incorrect` or `no_answer`.
"""

from __future__ import annotations

import pytest

from verirl.pool import VerifierPool
from verirl.rewards import validate_spec
from verirl.scoring import item_budget

DECIDED = {"correct", "incorrect", "no_answer"}
MB = "9" * 1_000_000

MATH = [r"e^{e^{e^{e^{e}}}}", r"\sum_{k=1}^{10^{12}} k", r"(x+y+z+1)^{60}", "(" * 500 + "1" + ")" * 500,
        r"\int_0^1 e^{x^{x^x}} dx", MB[:900], r"\gcd(10^{10^6},3)", r"9^{9^{9^{9}}}!", "\\frac{" * 200 + "1" + "}{2}" * 200]

# per language: (fork bomb, sleep, flood stdout, grab memory, kill own group, close stdout, read /dev/zero, fill /tmp)
PROGRAMS = {
    "python": [
        "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n",
        "import time\ntime.sleep(100)\n",
        "import sys\nwhile True: sys.stdout.write('x' * 65536)\n",
        "x = []\nwhile True: x.append(bytearray(1 << 24))\n",
        "import os, signal\nos.killpg(0, signal.SIGKILL)\n",
        "import os\nos.close(1)\nos.close(2)\nimport time\ntime.sleep(0.2)\n",
        "data = open('/dev/zero', 'rb').read()\n",
        "f = open('/tmp/fill', 'wb')\nwhile True: f.write(b'x' * (1 << 20))\n",
        "print('9' * 5_000_000)\n",
        "import os\nos.kill(1, 9)\nos.kill(os.getppid(), 9)\n",
    ],
    "cpp": [
        "#include <unistd.h>\nint main(){ while(1) fork(); }\n",
        "#include <unistd.h>\nint main(){ sleep(100); }\n",
        "#include <cstdio>\nint main(){ while(1) fputs(\"xxxxxxxxxxxxxxxx\", stdout); }\n",
        "#include <cstdlib>\n#include <cstring>\nint main(){ while(1){ char*p=(char*)malloc(1<<24); if(p) memset(p,1,1<<24);} }\n",
        "#include <signal.h>\nint main(){ kill(0, SIGKILL); }\n",
        "#include <unistd.h>\nint main(){ close(1); close(2); return 0; }\n",
        "#include <cstdio>\nint main(){ FILE*f=fopen(\"/tmp/x\",\"w\"); char b[1<<16]={1}; while(1) fwrite(b,1,sizeof b,f); }\n",
        '#include "/dev/stdout"\nint main(){}\n',
        "template<int N> struct F { enum { v = F<N-1>::v + F<N-2>::v }; };\ntemplate<> struct F<0>{enum{v=0};};\ntemplate<> struct F<1>{enum{v=1};};\nint main(){ return F<100000>::v; }\n",
    ],
    "java": [
        "public class Main { public static void main(String[] a) throws Exception { Thread.sleep(100000); } }\n",
        "public class Main { public static void main(String[] a) { java.util.List<long[]> l = new java.util.ArrayList<>(); while (true) l.add(new long[1 << 20]); } }\n",
        "public class Main { public static void main(String[] a) { while (true) System.out.print(\"xxxxxxxxxxxxxxxx\"); } }\n",
    ],
    "javascript": [
        "while (true) {}\n",
        "const a = []; while (true) a.push(new Array(1e6).fill(1));\n",
        "process.kill(0, 'SIGKILL');\n",
    ],
    "bash": [
        ":(){ :|:& };:\n",
        "sleep 100\n",
        "yes\n",
        "exec 1>&-\n",
    ],
}


@pytest.fixture(scope="module")
def pool():
    p = VerifierPool(2)
    yield p
    p.close()


def _grade(pool, items):
    return pool.map(items, [item_budget(it) for it in items])


def test_math_answers_never_reach_a_null(pool):
    items = [{"task": "math", "completion": f"\\boxed{{{a}}}", "answer": g, "options": {"reward": validate_spec("dapo")}}
             for a in MATH for g in ("7", "x^2+1")]
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED and r["reward"] is not None, (it["completion"][:80], r["verdict"], r["details"])


@pytest.mark.parametrize("language", sorted(PROGRAMS))
def test_hostile_programs_never_reach_a_null(pool, language):
    from tests.helpers import need_language

    need_language(language)
    tests = {"format": "stdio", "cases": [{"input": "3\n", "output": "42\n"}, {"input": "1\n", "output": "14\n"}]}
    items = [{"task": "code", "language": language, "completion": f"```{language}\n{src}```", "tests": tests,
              "options": {"time_limit_s": 1, "reward": validate_spec("dapo")}} for src in PROGRAMS[language]]
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED and r["reward"] == -1.0, (it["completion"][:80], r["verdict"], r["details"])


def test_hostile_programs_in_judged_tests_never_reach_a_null(pool):
    specs = [{"format": "call", "fn_name": "f", "cases": [{"args": [3], "expected": 42}]},
             {"format": "assert", "entry_point": "f", "test": "def check(candidate):\n    assert candidate(3) == 42\n"}]
    items = [{"task": "code", "completion": f"```python\n{src}def f(x):\n    return x\n```", "tests": t, "options": {"time_limit_s": 1}}
             for src in PROGRAMS["python"] for t in specs]
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED, (it["completion"][:80], r["verdict"], r["details"])


# the outside attack of 2026-12-05: floods that made extraction quadratic (9,000 unclosed boxes took
# 30-40 s: a pool deadline, verdict timeout) and checker crashes caused by the response
FLOODS = ["\\boxed{" * 9000, "\\fbox{" * 9000, "**" * 80000, "<answer>" * 20000, "\\boxed{\\frac{" * 10000,
          "The answer is " * 20000, "Answer: \n" * 20000, "$" * 150000, "\\(" * 60000, "\\boxed " * 40000]


def test_floods_of_markers_never_reach_a_null(pool):
    items = [{"task": task, "completion": c, "answer": gold} for c in FLOODS for task, gold in (("math", "7"), ("qa", "Paris"))]
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED, (it["task"], it["completion"][:40], r["verdict"], r["details"])


def test_slow_checkers_on_long_responses_are_the_responses_cost(pool):
    # the second outside attack: IFBench checkers at ~45 us a character ran a 200k response past the deadline
    cases = [("format:no_bullets_bullets", {}, "a\n" * 99000), ("words:words_position", {"keyword": "cat"}, "Cat sat. " * 22100),
             ("format:title_case", {}, "Cat sat. " * 22100)]
    items = [{"task": "instruction", "completion": t, "constraints": {"instruction_id_list": [c], "kwargs": [k]}} for c, k, t in cases]
    items.append({"task": "qa", "completion": "\\boxed{" * 20000 + "Paris" + "}" * 20000, "answer": ["Paris"]})
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED, (it["completion"][:40], r["verdict"], r["details"])


def test_a_checker_crash_caused_by_the_response_is_not_followed():
    from verirl.scoring import score_item

    cons = {"instruction_id_list": ["detectable_format:json_format"], "kwargs": [{}]}
    r = score_item({"task": "instruction", "completion": "[" * 3000 + "]" * 3000, "constraints": cons})
    assert r["verdict"] == "incorrect", r  # RecursionError in json.loads: the response's doing
    assert "RecursionError" in r["details"]["constraints"][0]["crash"]
    quote = {"instruction_id_list": ["format:quote_unquote"], "kwargs": [{}]}
    r = score_item({"task": "instruction", "completion": "123 !!!", "constraints": quote})
    assert r["verdict"] == "incorrect", r  # IFBench indexes the stripped text: IndexError
    assert "IndexError" in r["details"]["constraints"][0]["crash"]
    r = score_item({"task": "instruction", "completion": "He said hello and left.", "constraints": quote})
    assert r["verdict"] == "correct", r


def test_instruction_and_qa_answers_never_reach_a_null(pool):
    huge = "word " * 150_000
    cons = {"instruction_id_list": ["length_constraints:number_words", "keywords:letter_frequency", "detectable_format:json_format"],
            "kwargs": [{"num_words": 10, "relation": "less than"}, {"letter": "#", "let_frequency": 2, "let_relation": "at least"}, {}]}
    items = [{"task": "instruction", "completion": c, "constraints": cons} for c in (huge, "{" * 100_000, "\x00" * 1000, "</think>" * 1000)]
    items += [{"task": "qa", "completion": c, "answer": "Paris"} for c in (huge, "\u0301" * 10_000, "Paris´", "\x00")]
    for it, r in zip(items, _grade(pool, items)):
        assert r["verdict"] in DECIDED, (it["task"], it["completion"][:40], r["verdict"], r["details"])
