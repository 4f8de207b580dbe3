"""Languages as rows of sandbox/policy.py: Go, Rust, bash (and C) against the real sandbox.

Each language gets correct and wrong programs through stdio with the exact
verdict expected; the names resolve as verl sends them (SandboxFusion's
``go``/``rust``/``bash``) and as models tag fences (``golang``, ``rs``, ``sh``).
A language we do not run is our gap, not the model's: verdict ``error``, never a
0 reward. Compilation has its own CPU limit (policy.COMPILE_LIMITS, 10 s) and a
compiler kept busy by the program (a constexpr bomb) is ``compile_error``.

A language whose toolchain is missing skips with the reason, and fails under
``VERIRL_REQUIRE_LANGUAGES`` (set by .ci/run, which installs them).
"""

from __future__ import annotations

import pytest

from sandbox import Limits, resolve_language
from sandbox.policy import COMPILE_LIMITS, LANGUAGES, limits_for
from tests.helpers import need_language
from verirl.code.grader import choose_language
from verirl.scoring import score_item

ADD = {"format": "stdio", "cases": [{"input": "1 2\n", "output": "3\n"}, {"input": "-40 100\n", "output": "60"}]}


def item(program: str, fence: str, tests: dict = ADD, language: str | None = None, **opts) -> dict:
    it = {"task": "code", "completion": f"Here:\n```{fence}\n{program}\n```", "tests": tests, "options": opts}
    if language:
        it["language"] = language
    return it


def verdict(it: dict) -> tuple[str, str]:
    r = score_item(it)
    return r["verdict"], r["details"].get("code_verdict")


# (language, correct program, wrong program, runtime error, compile error or None, busy loop)
PROGRAMS = {
    "go": (
        'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tr := bufio.NewReader(os.Stdin)\n'
        "\tvar a, b int64\n\tfmt.Fscan(r, &a, &b)\n\tfmt.Println(a + b)\n}\n",
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a - b)\n}\n',
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar xs []int\n\tvar i int\n\tfmt.Scan(&i)\n\tfmt.Println(xs[i+5])\n}\n',
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tunused := 1\n}\n',
        "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n",
    ),
    "rust": (
        "use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n"
        "    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!(\"{}\", v[0] + v[1]);\n}\n",
        "fn main() {\n    let mut s = String::new();\n    std::io::stdin().read_line(&mut s).unwrap();\n"
        "    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!(\"{}\", v[0] * v[1]);\n}\n",
        "fn main() {\n    let v: Vec<i64> = Vec::new();\n    let i = std::env::args().count() + 4;\n    println!(\"{}\", v[i]);\n}\n",
        'fn main() {\n    let x: i32 = "three";\n    println!("{}", x);\n}\n',
        "fn main() {\n    let mut x: u64 = 1;\n    loop {\n        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);\n"
        "        if x == 42 {\n            println!(\"{}\", x);\n        }\n    }\n}\n",
    ),
    "bash": (
        "read a b\necho $((a + b))\n",
        "read a b\necho $((a - b))\n",
        "read a b\necho partial\nexit 3\n",
        None,
        "while :; do :; done\n",
    ),
    "c": (
        '#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n    long long *v = malloc(2 * sizeof *v);  /* no cast: C, not C++ */\n'
        '    if (scanf("%lld %lld", v, v + 1) != 2) return 1;\n    printf("%lld\\n", v[0] + v[1]);\n    return 0;\n}\n',
        '#include <stdio.h>\nint main(void) { long long a, b; scanf("%lld %lld", &a, &b); printf("%lld\\n", a * b); return 0; }\n',
        "#include <stdlib.h>\nint main(void) { abort(); }\n",
        "int main(void) { return undefined_name; }\n",
        "int main(void) { volatile unsigned long x = 0; for (;;) x++; }\n",
    ),
}


@pytest.mark.parametrize("lang", sorted(PROGRAMS))
def test_correct_and_wrong_programs(lang):
    need_language(lang)
    good, wrong, crash, bad_compile, spin = PROGRAMS[lang]
    assert verdict(item(good, lang)) == ("correct", "accepted")
    assert verdict(item(wrong, lang)) == ("incorrect", "wrong_answer")
    assert verdict(item(crash, lang)) == ("incorrect", "runtime_error")
    if bad_compile is not None:
        r = score_item(item(bad_compile, lang))
        assert (r["verdict"], r["details"]["code_verdict"]) == ("incorrect", "compile_error")
        assert r["details"]["compile_stderr"], "the compiler's message reaches the caller"
    assert verdict(item(spin, lang, time_limit_s=0.5)) == ("incorrect", "time_limit")


def test_correct_program_on_many_cases_and_big_input():
    """Go and Rust over a larger input: buffered I/O, one compile for every case."""
    n = 200_000
    nums = " ".join(str(i) for i in range(n))
    tests = {"format": "stdio", "cases": [{"input": f"{n}\n{nums}\n", "output": str(n * (n - 1) // 2)}, {"input": "1\n7\n", "output": "7"}]}
    go = (
        'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tr := bufio.NewReaderSize(os.Stdin, 1<<16)\n'
        "\tvar n int\n\tfmt.Fscan(r, &n)\n\tvar s, x int64\n\tfor i := 0; i < n; i++ {\n\t\tfmt.Fscan(r, &x)\n\t\ts += x\n\t}\n\tfmt.Println(s)\n}\n"
    )
    rust = (
        "use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n"
        "    let mut it = s.split_ascii_whitespace().map(|x| x.parse::<i64>().unwrap());\n    let n = it.next().unwrap() as usize;\n"
        "    let total: i64 = it.take(n).sum();\n    println!(\"{}\", total);\n}\n"
    )
    for lang, program in (("go", go), ("rust", rust)):
        need_language(lang)
        r = score_item(item(program, lang, tests, time_limit_s=5))
        assert (r["verdict"], r["details"]["code_verdict"], r["details"]["passed"]) == ("correct", "accepted", 2), r["details"]


@pytest.mark.parametrize(
    ("name", "row"),
    [
        # SandboxFusion's names, as verl's sandbox_fusion client sends them
        ("go", "go"), ("rust", "rust"), ("bash", "bash"), ("nodejs", "javascript"), ("python", "python"), ("cpp", "cpp"),
        # fence tags models write
        ("golang", "go"), ("Go", "go"), ("rs", "rust"), ("sh", "bash"), ("shell", "bash"), ("c", "c"), ("C++", "cpp"),
    ],
)
def test_names_resolve_to_rows(name, row):
    lang = resolve_language(name)
    assert lang is not None and lang.name == row


@pytest.mark.parametrize(("fence", "language"), [("golang", None), ("sh", None), ("rs", None), ("", "go"), ("text", "bash")])
def test_aliases_run_end_to_end(fence, language):
    lang = resolve_language(language or fence)
    assert lang is not None
    need_language(lang.name)
    good = PROGRAMS[lang.name][0]
    assert verdict(item(good, fence, language=language)) == ("correct", "accepted")


# --------------------------------------------------------------------------- languages we do not run


@pytest.mark.parametrize(
    ("fence", "language"),
    [("cobol", None), ("lua", None), ("php", None), ("x", "cobol"), ("python", "kotlin_script"), ("", "brainfuck")],
)
def test_unsupported_language_is_error_never_a_zero(fence, language):
    it = item("IDENTIFICATION DIVISION.\nPROGRAM-ID. HELLO.", fence, language=language, reward="dapo")
    r = score_item(it)
    name = language or fence
    assert r["verdict"] == "error", r
    assert r["reward"] is None, "an undecided item must not get DAPO's -1 or a 0"
    err = r["details"]["error"]
    assert err["code"] == "unsupported_language" and err["language"] == name
    assert repr(name) in err["message"] and "supported here" in err["message"]
    assert r["details"]["code_verdict"] == "unsupported_language"


def test_a_fence_tag_that_names_no_language_is_ignored():
    """```text or ```output is not a language: the program runs as the item's (default Python)."""
    assert choose_language(None, "text") == "python" and choose_language(None, "output") == "python"
    assert choose_language("go", "cobol") == "go", "the item's own language wins over the fence"
    assert verdict(item("a, b = map(int, input().split())\nprint(a + b)", "text")) == ("correct", "accepted")
    assert verdict(item("print(0)", "output")) == ("incorrect", "wrong_answer")


# --------------------------------------------------------------------------- the compile step's own limit


def test_compile_limits_are_their_own_not_the_runs():
    tiny_run = Limits(cpu_time_s=0.25, wall_time_s=0.5, memory_mb=64)
    assert COMPILE_LIMITS["cpu_time_s"] == 10.0
    for lang in LANGUAGES.values():
        lim = limits_for(lang, tiny_run, compile_step=True)
        assert lim.cpu_time_s == lang.compile_limits.get("cpu_time_s", COMPILE_LIMITS["cpu_time_s"])
        assert lim.wall_time_s == COMPILE_LIMITS["wall_time_s"] and lim.memory_mb >= 1024
    assert limits_for(LANGUAGES["cpp"], tiny_run).cpu_time_s == 0.25


def test_heavy_compile_passes_under_a_tight_run_limit():
    """bits/stdc++.h costs seconds of compiler CPU; a 0.25 s run limit must not apply to it."""
    need_language("cpp")
    prog = "#include <bits/stdc++.h>\nusing namespace std;\nint main(){long long a,b;cin>>a>>b;cout<<a+b<<endl;}"
    assert verdict(item(prog, "cpp", time_limit_s=0.25)) == ("correct", "accepted")


CONSTEXPR_BOMB = r"""
// Each constant stays under g++'s constexpr operation limit; hundreds of them keep
// cc1plus busy for many minutes. Nothing is wrong with it but the compile time.
constexpr unsigned long long spin(unsigned long long n, unsigned long long k) {
    unsigned long long s = k;
    for (unsigned long long i = 0; i < n; ++i)
        for (unsigned long long j = 0; j < n; ++j) s += i ^ j ^ k;
    return s;
}
#define A(n) constexpr unsigned long long v##n = spin(1000, n##ULL);
#define B(n) A(n##0) A(n##1) A(n##2) A(n##3) A(n##4) A(n##5) A(n##6) A(n##7) A(n##8) A(n##9)
#define C(n) B(n##0) B(n##1) B(n##2) B(n##3) B(n##4) B(n##5) B(n##6) B(n##7) B(n##8) B(n##9)
C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9)
#include <cstdio>
int main() { std::printf("%llu\n", v100 & 1); }
"""


def _rust_const_bomb() -> str:
    consts = "\n".join(f"const V{k}: u64 = spin(3000, {k});" for k in range(400))
    xor = " ^ ".join(f"V{k}" for k in range(400))
    return (
        "const fn spin(n: u64, k: u64) -> u64 {\n    let mut s = k;\n    let mut i = 0;\n    while i < n {\n"
        "        let mut j = 0;\n        while j < n {\n            s = s.wrapping_add(i ^ j ^ k);\n            j += 1;\n        }\n"
        f"        i += 1;\n    }}\n    s\n}}\n{consts}\nfn main() {{\n    println!(\"{{}}\", {xor});\n}}\n"
    )


@pytest.mark.parametrize("lang", ["cpp", "rust"])
def test_compile_bomb_is_a_compile_error_at_the_compile_limit(lang):
    need_language(lang)
    program = CONSTEXPR_BOMB if lang == "cpp" else _rust_const_bomb()
    r = score_item(item(program, lang, ADD))
    d = r["details"]
    assert (r["verdict"], d["code_verdict"], r["reward"]) == ("incorrect", "compile_error", 0.0), d
    assert d["compile_status"] == "time_limit"
    assert "10 s CPU" in d["reason"]


def test_a_row_whose_toolchain_is_missing_is_error_not_zero(monkeypatch):
    """A language row on a verifier without its toolchain (policy data, not a mocked runner)."""
    from sandbox.policy import Language

    row = Language(name="zig", source_file="main.zig", compile=("/nonexistent/zig", "build-exe"), run=("/work/main",), needs=("/nonexistent/zig",))
    monkeypatch.setitem(LANGUAGES, "zig", row)
    r = score_item(item("pub fn main() void {}", "zig"))
    assert (r["verdict"], r["reward"], r["details"]["error"]["code"]) == ("error", None, "language_unavailable")
    assert "/nonexistent/zig" in r["details"]["error"]["message"]


# --------------------------------------------------------------------------- issue 20: SandboxFusion's runtime contract on /v1/score too

THREADS = {  # four threads at once, each summing a slice: the answer needs all four
    "cpp": "#include <iostream>\n#include <thread>\n#include <vector>\n#include <future>\nint main(){ long long a,b; std::cin>>a>>b;\n"
           "  std::vector<std::thread> ts; long long part[4] = {0,0,0,0};\n"
           "  for (int t = 0; t < 4; t++) ts.emplace_back([&part,t]{ part[t] = t; });\n  for (auto &t : ts) t.join();\n"
           "  auto f = std::async(std::launch::async, [&]{ return a + b; });\n"
           "  std::cout << f.get() + part[0] + part[1] + part[2] + part[3] - 6 << std::endl; }\n",
    "c": "#include <stdio.h>\n#include <pthread.h>\nstatic long long part[4];\nstatic void *work(void *p){ long i = (long)p; part[i] = i; return 0; }\n"
         "int main(void){ long long a, b; if (scanf(\"%lld %lld\", &a, &b) != 2) return 1; pthread_t t[4];\n"
         "  for (long i = 0; i < 4; i++) if (pthread_create(&t[i], 0, work, (void *)i)) return 2;\n"
         "  for (int i = 0; i < 4; i++) pthread_join(t[i], 0);\n  printf(\"%lld\\n\", a + b + part[0] + part[1] + part[2] + part[3] - 6); return 0; }\n",
}


@pytest.mark.parametrize("lang", sorted(THREADS))
def test_four_threads_at_the_default_memory_limit(lang):
    need_language(lang)
    assert verdict(item(THREADS[lang], lang)) == ("correct", "accepted")


def test_deep_recursion_still_has_a_big_main_stack():
    need_language("cpp")
    deep = ("#include <iostream>\nlong long f(long long n){ volatile char pad[64]; pad[0] = 1; return n == 0 ? pad[0] - 1 : 1 + f(n - 1); }\n"
            "int main(){ long long a,b; std::cin>>a>>b; std::cout << f(1000000) - 1000000 + a + b << std::endl; }\n")
    assert verdict(item(deep, "cpp", memory_mb=512)) == ("correct", "accepted")


@pytest.mark.parametrize(
    ("lang", "program"),
    [
        ("java", "import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);"
                 "long a=s.nextLong(),b=s.nextLong(); assert a + b == 7 : \"asserts are on\"; System.out.println(a+b);}}"),
        ("cpp", "#include <iostream>\n#include <cassert>\nint main(){ long long a,b; std::cin>>a>>b; assert(a + b == 7); std::cout<<a+b; }"),
        ("c", "#include <stdio.h>\n#include <assert.h>\nint main(void){ long long a,b; scanf(\"%lld %lld\",&a,&b); assert(a + b == 7); printf(\"%lld\", a+b); return 0; }"),
    ],
)
def test_asserts_are_checked_java_ea_and_no_ndebug(lang, program):
    # SandboxFusion runs `java -ea` and compiles C/C++ without NDEBUG: a failing assert is a runtime error.
    need_language(lang)
    assert verdict(item(program, lang)) == ("incorrect", "runtime_error")


LIBRARY_PROGRAMS = {
    "java": "import org.javatuples.Pair;\nimport java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);"
            "Pair<Long,Long> p = Pair.with(s.nextLong(), s.nextLong()); System.out.println(p.getValue0() + p.getValue1());}}",
    "cpp": "#include <boost/any.hpp>\n#include <iostream>\nint main(){ long long a,b; std::cin>>a>>b; boost::any v = a + b; std::cout << boost::any_cast<long long>(v); }",
    "javascript": "const _ = require('lodash');\nconst [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(_.sum([a, b]));",
}


@pytest.mark.parametrize("lang", sorted(LIBRARY_PROGRAMS))
def test_libraries_sandboxfusion_datasets_expect(lang):
    need_language(lang)
    from sandbox.policy import LIBRARIES

    for lib in LIBRARIES[lang]:
        if not __import__("os").path.exists(lib.path):
            if __import__("os").environ.get("VERIRL_REQUIRE_LANGUAGES"):
                pytest.fail(f"{lib.name} ({lib.package}) is not installed and VERIRL_REQUIRE_LANGUAGES is set")
            pytest.skip(f"{lib.name} is not installed here (Debian package {lib.package}; .ci/run and the Dockerfile install it)")
    assert verdict(item(LIBRARY_PROGRAMS[lang], lang, time_limit_s=5, memory_mb=1024)) == ("correct", "accepted")


def test_a_missing_library_is_error_not_a_compile_error(monkeypatch):
    """A library row whose files are absent (policy data, not a mocked runner): our gap, never a 0."""
    need_language("cpp")
    from sandbox.policy import LIBRARIES, Library

    monkeypatch.setitem(LIBRARIES, "cpp", (Library("boost", "/nonexistent/boost", r"#\s*include\s*[<\"]boost/", "libboost-dev"),))
    r = score_item(item(LIBRARY_PROGRAMS["cpp"], "cpp"))
    assert (r["verdict"], r["reward"], r["details"]["error"]["code"]) == ("error", None, "library_unavailable")
    assert "libboost-dev" in r["details"]["error"]["message"]
    assert verdict(item(PROGRAMS["c"][0], "c")) == ("correct", "accepted")  # a program that uses no library runs


def test_toolchains_are_found_where_they_are_installed(monkeypatch, tmp_path):
    """A row whose tool is not at its path is found on PATH (and in ~/.cargo/bin, /usr/local/go/bin)."""
    from sandbox.policy import Language, _with_toolchain

    tool = tmp_path / "zigc"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    row = Language(name="zig", source_file="main.zig", compile=("/usr/bin/zigc", "x"), run=("/work/main",), needs=("/usr/bin/zigc",))
    dirs: list[str] = []
    found = _with_toolchain(row, dirs)
    assert found.compile == (str(tool), "x") and found.needs == (str(tool),)
    assert dirs == [str(tmp_path.parent)]  # the toolchain's directory (.../bin/tool -> ...), mounted read-only
    assert _with_toolchain(LANGUAGES["bash"], dirs) == LANGUAGES["bash"] and len(dirs) == 1
