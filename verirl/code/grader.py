"""Code verification: run a model's program against tests in the sandbox.

Test formats (``tests`` of an item):

``{"format": "stdio", "cases": [{"input", "output"}], "checker": "tokens"|"exact"|"float:1e-6"}``
    Codeforces/APPS style. ``tokens`` (default) compares whitespace-separated
    tokens (trailing whitespace and blank lines never matter); ``exact``
    compares lines with trailing spaces and trailing blank lines removed;
    ``float:TOL`` compares numeric tokens with absolute/relative tolerance TOL.
``{"format": "call", "fn_name", "cases": [{"args": [...], "expected", "expected_alternatives"?}]}``
    LeetCode/TACO style (Python): calls ``fn_name`` (or ``Solution().fn_name``); a result equal
    to ``expected`` or to one of ``expected_alternatives`` passes (APPS's ``outputs[i][0]`` rule).
``{"format": "assert", "test": "<code>", "entry_point"?, "setup"?}``
    HumanEval/MBPP style (Python): the trusted ``setup`` (the dataset's own helper
    code: HumanEval's prompt, MBPP's ``test_setup_code``) runs in the judge, then
    the test code, then ``check(entry_point)`` if the test defines ``check`` (which
    then needs ``entry_point``). Names the setup defines are never the program's;
    only ``entry_point`` and the test's other free names reach the program. A test
    that never calls the program tests nothing: a bad label (verdict ``error``).

Any format may carry ``"imports"``: Python import lines run before a Python program (never
before another language's), as the harnesses of APPS, TACO, verl ``prime_code`` and LiveCodeBench
run every program after their own star imports, so a program that uses ``defaultdict`` or
``heapq`` unimported passes there (see :data:`verirl.code.labels.HARNESS_IMPORTS`).

Call and assert tests are judged by a second sandboxed process (the judge,
:mod:`verirl.code.judge`) that never shares memory with the program: another
uid, not dumpable. The judge alone holds the tests and the result channel; it
calls the program's functions over a pipe (:mod:`verirl.code.serve` answers in
the program's process) and gets back plain data only, so no ``__eq__``
override, subclass, encoder patch, nonce hunt or early exit can pass a test.

Every test is a fresh process forked from the sandbox's warm zygote: no state
survives from one test to the next.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from verirl.errors import InvalidInput

CODE_VERDICTS = (
    "accepted", "wrong_answer", "time_limit", "memory_limit", "runtime_error",
    "compile_error", "output_limit", "sandbox_error", "unsupported_language",
)
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 512
MAX_CASES = 10_000
_FENCE_LANG = re.compile(r"[ \t]*([A-Za-z0-9_+#.-]*)")


# --------------------------------------------------------------------------- validation

def validate_tests(tests: Any, language: str | None) -> None:
    if not isinstance(tests, dict):
        raise InvalidInput("tests must be an object", field="tests")
    fmt = tests.get("format")
    if fmt not in ("stdio", "call", "assert"):
        raise InvalidInput("tests.format must be stdio, call or assert", field="tests.format")
    if fmt in ("stdio", "call"):
        cases = tests.get("cases")
        if not isinstance(cases, list) or not cases:
            raise InvalidInput("tests.cases must be a non-empty list", field="tests.cases")
        if len(cases) > MAX_CASES:
            raise InvalidInput(f"at most {MAX_CASES} test cases", field="tests.cases")
        for i, c in enumerate(cases):
            if not isinstance(c, dict):
                raise InvalidInput("each case must be an object", field=f"tests.cases[{i}]")
            if fmt == "stdio":
                for k in ("input", "output"):
                    if not isinstance(c.get(k), str):
                        raise InvalidInput(f"case needs a string `{k}`", field=f"tests.cases[{i}].{k}")
            else:
                if not isinstance(c.get("args"), list):
                    raise InvalidInput("case needs a list `args`", field=f"tests.cases[{i}].args")
                if "expected" not in c:
                    raise InvalidInput("case needs `expected`", field=f"tests.cases[{i}].expected")
                if not isinstance(c.get("expected_alternatives", []), list):
                    raise InvalidInput("expected_alternatives must be a list", field=f"tests.cases[{i}].expected_alternatives")
    if fmt == "stdio":
        chk = tests.get("checker", "tokens")
        if chk not in ("tokens", "exact") and not re.fullmatch(r"float:[0-9.eE+-]+", str(chk)):
            raise InvalidInput("checker must be tokens, exact or float:TOL", field="tests.checker")
    if fmt == "call" and not isinstance(tests.get("fn_name"), str):
        raise InvalidInput("call tests need `fn_name`", field="tests.fn_name")
    if fmt == "assert" and not isinstance(tests.get("test"), str):
        raise InvalidInput("assert tests need `test` code", field="tests.test")
    if fmt == "assert" and not isinstance(tests.get("setup", ""), str | None):
        raise InvalidInput("tests.setup must be Python code (a string)", field="tests.setup")
    if fmt == "assert" and re.search(r"^def\s+check\s*\(", tests["test"], re.MULTILINE):
        entry = tests.get("entry_point")
        if not (isinstance(entry, str) and entry.isidentifier()):  # check would never be called: nothing tested
            raise InvalidInput("the test defines check(candidate): tests.entry_point must name the function to check", field="tests.entry_point")
    if "imports" in tests:
        _check_imports(tests["imports"])
    if fmt in ("call", "assert") and language and language.lower() not in ("python", "python3", "py", "py3"):
        raise InvalidInput(f"{fmt} tests run Python programs only", field="language")


def _check_imports(imports: Any) -> None:
    import ast

    if not isinstance(imports, str):
        raise InvalidInput("tests.imports must be Python import lines (a string)", field="tests.imports")
    try:
        body = ast.parse(imports).body
    except (SyntaxError, ValueError, RecursionError):
        raise InvalidInput("tests.imports does not parse as Python", field="tests.imports") from None
    if not all(isinstance(n, ast.Import | ast.ImportFrom) and getattr(n, "module", None) != "__future__" for n in body):
        raise InvalidInput("tests.imports may hold import statements only", field="tests.imports")


def with_imports(program: str, imports: str) -> str:
    """The program run after ``imports`` on one line (line numbers move by one), placed after the
    program's own docstring and ``from __future__`` imports, which must stay first."""
    import ast

    line = "; ".join(x.strip() for x in imports.splitlines() if x.strip())
    try:
        body = ast.parse(program).body
    except (SyntaxError, ValueError, RecursionError):  # it fails to compile either way
        return line + "\n" + program
    head = 0
    for i, node in enumerate(body):
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if not (future or doc):
            break
        head = node.end_lineno or node.lineno
    if not head:
        return line + "\n" + program
    lines = program.splitlines(keepends=True)
    rest = "".join(lines[head:])
    return "".join(lines[:head]).rstrip("\n") + "\n" + line + "\n" + rest


def code_budget(item: dict) -> float:
    """A kill deadline for a whole item: every test at its limit, plus compile."""
    opts = item.get("options") or {}
    tl = float(opts.get("time_limit_s") or DEFAULT_TIME_LIMIT_S)
    tests = item.get("tests") or {}
    n = len(tests.get("cases") or [None])
    if opts.get("max_tests"):
        n = min(n, int(opts["max_tests"]))
    per = max(3 * tl, tl + 2) + 0.5
    from sandbox.policy import COMPILE_LIMITS

    compile_s = float(COMPILE_LIMITS["wall_time_s"] or 3 * COMPILE_LIMITS["cpu_time_s"]) + 10.0
    return min(1800.0, n * per + compile_s)


def run_code_budget(request: dict) -> float:
    """Kill deadline of one SandboxFusion-style run: compile + run timeouts, plus slack."""
    return float(request.get("compile_timeout") or 10) + float(request.get("run_timeout") or 10) + 10.0


# --------------------------------------------------------------------------- extraction

def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order: a linear scan (no regex backtracking).

    A block opens with three backticks, an info line whose first word is the
    language, and ends at the next three backticks.
    """
    out = []
    i = 0
    while True:
        start = text.find("```", i)
        if start < 0:
            break
        nl = text.find("\n", start + 3)
        if nl < 0:
            break
        end = text.find("```", nl + 1)
        if end < 0:
            break
        m = _FENCE_LANG.match(text, start + 3, nl)
        out.append((m.group(1) if m else "", text[nl + 1 : end]))
        i = end + 3
    return out


def extract_program(completion: str, language: str | None) -> tuple[str, str | None]:
    """The last fenced code block (and its fence language); the whole text if there is none."""
    blocks = fenced_blocks(completion)
    if blocks:
        lang, code = blocks[-1]
        return code, (lang or None)
    return completion, None


# Names of programming languages with no row in sandbox/policy.py: SandboxFusion's
# (sandbox/runners/types.py) and other common fence tags. A program in one of them is
# our gap, not the model's: verdict ``error``. Any other fence tag (``text``,
# ``output``) names no language and is ignored.
OTHER_LANGUAGES = frozenset({
    "php", "csharp", "c#", "cs", "typescript", "ts", "sql", "cuda", "lua", "r", "perl", "d_ut", "d",
    "ruby", "rb", "scala", "julia", "pytest", "junit", "kotlin_script", "kotlin", "kt", "jest",
    "verilog", "python_gpu", "lean", "swift", "racket", "go_test", "haskell", "hs", "ocaml",
    "fsharp", "f#", "elixir", "erlang", "clojure", "dart", "zig", "nim", "fortran", "pascal",
    "cobol", "objective-c", "objc", "groovy", "scheme", "lisp", "prolog", "powershell", "zsh",
    "fish", "matlab", "octave", "crystal", "asm", "nasm", "assembly", "vb", "vbnet",
})


def choose_language(declared: str | None, fence: str | None) -> str:
    """The item's own language; else the fence's if it names a language; else Python."""
    from sandbox import resolve_language

    if declared:
        return declared
    if fence and (resolve_language(fence) is not None or fence.lower() in OTHER_LANGUAGES):
        return fence
    return "python"


def unsupported(language: str, program: str | None = None) -> dict | None:
    """The verdict details when ``language`` (or a library ``program`` uses) cannot run here (``None`` when it can)."""
    from sandbox import available_languages, missing_libraries, resolve_language

    lang = resolve_language(language)
    here = sorted(available_languages())
    if lang is None:
        code, msg = "unsupported_language", f"language {language!r} is not supported; supported here: {', '.join(here)}"
    elif lang.name not in here:
        code, msg = "language_unavailable", f"language {lang.name!r} is not installed on this verifier ({', '.join(lang.needs)} missing)"
    elif program is not None and (missing := missing_libraries(lang, program)):
        code = "library_unavailable"
        msg = "; ".join(f"the {lang.name} library {m.name} is not installed on this verifier (Debian package {m.package})" for m in missing)
    else:
        return None
    return {"code_verdict": "unsupported_language", "error": {"code": code, "message": msg, "language": language}}


# --------------------------------------------------------------------------- comparison
#
# Outputs are up to 16 MB: compared as bytes, in chunks, never split into one
# object per token (16 MB of "ab " would be 5.6 M strings).

# Whitespace as str.split() sees it: ASCII blanks and the separators \x1c-\x1f ...
_WS = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_WS_CLASS = rb"[ \t\n\r\x0b\x0c\x1c-\x1f]"
_WS_ONE = re.compile(_WS_CLASS)
_NON_WS = re.compile(rb"[^ \t\n\r\x0b\x0c\x1c-\x1f]")
_TO_SPACE = bytes.maketrans(b"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f", b"         ")
# ... and the Unicode spaces, in UTF-8 (NEL, NBSP, ogham, en quad .. hair space, line/paragraph
# separators, narrow NBSP, medium math space, ideographic space)
_UNICODE_WS = tuple(chr(c).encode() for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000))
# trailing blanks of a line; the look-behind keeps it linear inside long runs of blanks
_LINE_TAIL = re.compile(rb"(?<![ \t\r\x0b\x0c])[ \t\r\x0b\x0c]++(?=\n)")


def _spaces_ascii(data: bytes) -> bytes:
    """Unicode spaces made ASCII spaces (bytes.replace returns ``data`` itself when there are none)."""
    if data.isascii():
        return data
    for seq in _UNICODE_WS:
        data = data.replace(seq, b" ")
    return data


CHUNK = 1 << 20  # bytes per piece when collapsing whitespace
LINE_CHUNK = 1 << 16  # bytes per piece when trimming lines (a regex sub makes an object per match)


def _content_end(data: bytes) -> int:
    """Index after the last non-whitespace byte (0 if none), without copying the whole output."""
    end = len(data)
    while end > 0:
        lo = max(0, end - 65536)
        tail = data[lo:end].rstrip(_WS)
        if tail:
            return lo + len(tail)
        end = lo
    return 0


def _token_chunks(data: bytes, chunk: int | None = None):
    """``data`` with every whitespace run made one space and no blank at either end, in pieces."""
    chunk = chunk or CHUNK
    m = _NON_WS.search(data)
    i = m.start() if m else len(data)
    hi = _content_end(data)
    while i < hi:
        j = i + chunk
        if j >= hi:
            j = hi
        else:
            ws = _WS_ONE.search(data, j, hi)
            j = _NON_WS.search(data, ws.start(), hi).start() if ws else hi  # cut after a whole run
        piece = data[i:j].translate(_TO_SPACE)  # C loops only: a regex sub would make an object per match
        while b"  " in piece:
            piece = piece.replace(b"  ", b" ")
        yield piece
        i = j


def _line_chunks(data: bytes):
    """``data`` with trailing blanks of every line and trailing blank lines removed, in pieces."""
    chunk = LINE_CHUNK
    hi = _content_end(data)
    i = 0
    while i < hi:
        j = data.find(b"\n", min(i + chunk, hi), hi)
        j = hi if j < 0 else j + 1
        yield _LINE_TAIL.sub(b"", data[i:j])
        i = j


def _same_stream(pieces, want: bytes) -> bool:
    pos = 0
    for p in pieces:
        if want[pos : pos + len(p)] != p:
            return False
        pos += len(p)
    return pos == len(want)


def compare_stdio(got: bytes | str, want: bytes | str, checker: str = "tokens") -> bool:
    g = got.encode("utf-8", "surrogateescape") if isinstance(got, str) else got
    w = want.encode("utf-8", "surrogateescape") if isinstance(want, str) else want
    if checker == "exact":
        return _same_stream(_line_chunks(g), b"".join(_line_chunks(w)))
    if g == w:
        return True
    g, w = _spaces_ascii(g), _spaces_ascii(w)
    wn = b"".join(_token_chunks(w))
    if not checker.startswith("float:"):
        return _same_stream(_token_chunks(g), wn)
    tol = float(checker.split(":", 1)[1])
    wt = wn.split(b" ") if wn else []
    k = 0
    for piece in _token_chunks(g, min(CHUNK, 1 << 16)):
        toks = piece.rstrip(b" ").split(b" ")  # a piece ends after a whole blank run
        if k + len(toks) > len(wt):
            return False
        for a, b in zip(toks, wt[k : k + len(toks)], strict=True):
            if a != b and not _floats_close(a, b, tol):
                return False
        k += len(toks)
    return k == len(wt)


def _floats_close(a: bytes, b: bytes, tol: float) -> bool:
    try:
        fa, fb = float(a), float(b)
    except ValueError:
        return False
    return math.isfinite(fa) and math.isfinite(fb) and abs(fa - fb) <= tol * max(1.0, abs(fb))


# --------------------------------------------------------------------------- the judge (call and assert formats)

@cache
def _harness(name: str) -> str:
    """Source of a harness module run inside the sandbox (never imported here)."""
    return (Path(__file__).parent / f"{name}.py").read_text()


def _judge_verdict(raw: bytes | None) -> tuple[str, str | None, str | None]:
    """The judge's one JSON object (verdict, note, error code); anything else is wrong_answer."""
    try:
        rep = json.loads(raw or b"")
        verdict, note, code = rep["verdict"], rep.get("note"), rep.get("code")
    except (ValueError, TypeError, KeyError, RecursionError, AttributeError):
        return "wrong_answer", "the judge gave no well-formed result", None
    if verdict not in ("accepted", "wrong_answer", "runtime_error", "error"):
        return "wrong_answer", "the judge gave an unknown result", None
    return verdict, note if isinstance(note, str) else None, code if isinstance(code, str) else None


# --------------------------------------------------------------------------- the sandbox, one per process

_sandbox = None
_lock = threading.Lock()


def get_sandbox():
    """This process's sandbox (zygote started once). Raises IsolationUnavailable."""
    global _sandbox
    with _lock:
        if _sandbox is None:
            from sandbox import Sandbox

            _sandbox = Sandbox()
        return _sandbox


def isolation_report() -> dict:
    """What isolation the sandbox provides here (for /v1/info); never runs anything untrusted."""
    try:
        return {"available": True, **get_sandbox().report}
    except Exception as exc:
        return {"available": False, "error": str(exc)}


def languages() -> dict:
    from sandbox import LANGUAGES, LIBRARIES, available_languages

    avail = available_languages()
    return {
        name: {
            "available": name in avail, "aliases": list(lang.aliases), "compiled": lang.compile is not None,
            "libraries": {lib.name: Path(lib.path).exists() for lib in LIBRARIES.get(name, ())},
        }
        for name, lang in LANGUAGES.items()
    }


# --------------------------------------------------------------------------- grading

def _limits(opts: dict):
    from sandbox import Limits

    return Limits(
        cpu_time_s=float(opts.get("time_limit_s") or DEFAULT_TIME_LIMIT_S),
        memory_mb=int(opts.get("memory_mb") or DEFAULT_MEMORY_MB),
        loopback=opts.get("network") == "loopback",
    )


def _test_record(i: int, verdict: str, res: Any, note: str | None = None) -> dict:
    rec: dict[str, Any] = {"index": i, "verdict": verdict}
    if res is not None:
        rec["cpu_s"] = round(res.cpu_s, 4)
        rec["wall_s"] = round(res.wall_s, 4)
        if verdict not in ("accepted",) and res.stderr:
            rec["stderr"] = res.stderr[-1000:].decode(errors="replace")
        if res.detail:
            rec["detail"] = res.detail[:500]
    if note:
        rec["note"] = note
    return rec


def run_tests(program: str, language: str, tests: dict, opts: dict) -> dict:
    """Run every test; return the code verdict, per-test records and the pass fraction."""
    from sandbox import resolve_language

    lang = resolve_language(language)
    if lang is None:  # callers refuse these first (unsupported())
        raise ValueError(f"language {language!r} is not supported")
    fmt = tests["format"]
    cases = tests.get("cases") or [None]
    total = len(cases)
    if opts.get("max_tests"):
        cases = cases[: int(opts["max_tests"])]
    stop_first = opts.get("stop_on_first_failure")
    if stop_first is None:
        stop_first = (opts.get("code_reward") or "all_or_nothing") == "all_or_nothing"
    if tests.get("imports") and lang.name == "python":
        program = with_imports(program, tests["imports"])
    sb = get_sandbox()
    lim = _limits(opts)
    records: list[dict] = []
    passed = 0
    with sb.submission(lang, program, lim) as sub:
        if not sub.compiled:
            cr = sub.compile_result
            verdict = "sandbox_error" if cr.status == "sandbox_error" else "compile_error"
            out = {
                "code_verdict": verdict,
                "tests": [],
                "passed": 0,
                "total": total,
                "compile_status": cr.status,  # time_limit: the compile step's own CPU limit (policy.COMPILE_LIMITS)
                "compile_stderr": cr.stderr[-2000:].decode(errors="replace"),
            }
            if cr.status == "time_limit" and (cr.detail or "").startswith("wall_time"):
                out["compile_status"] = "wall_time"  # what happened: the compiler sat blocked, not busy
                out["reason"] = f"compilation stopped: {cr.detail}"
            elif cr.status == "time_limit":
                out["reason"] = f"compilation exceeded its limit ({sub.compile_limits.cpu_time_s:g} s CPU)"
            if cr.detail:
                out["error" if verdict == "sandbox_error" else "compile_detail"] = cr.detail
            return out
        for i, case in enumerate(cases):
            if fmt == "stdio":
                res = sub.run(stdin=case["input"].encode())
            elif fmt == "call":
                spec = {"mode": "call", "fn_name": tests["fn_name"], "args": case["args"], "expected": case["expected"],
                        "alternatives": case.get("expected_alternatives") or []}
                res = sub.run(after=_harness("serve"), judge=_harness("judge"), judge_input=json.dumps(spec).encode())
            else:
                spec = {"mode": "assert", "test": tests["test"], "entry_point": tests.get("entry_point"), "setup": tests.get("setup")}
                res = sub.run(after=_harness("serve"), judge=_harness("judge"), judge_input=json.dumps(spec).encode())
            note = code = None
            if res.status == "compile_error":  # Python: the program does not compile; no test can pass
                return {"code_verdict": "compile_error", "tests": [], "passed": 0, "total": total, "compile_stderr": (res.detail or "")[-2000:]}
            if res.status != "ok":
                verdict = res.status
            elif fmt == "stdio":
                verdict = "accepted" if compare_stdio(res.stdout, case["output"], tests.get("checker", "tokens")) else "wrong_answer"
            else:
                verdict, note, code = _judge_verdict(res.judge)
                if verdict == "error":  # the test code itself is broken: a bad label, not the model
                    verdict, note = "sandbox_error", f"the test cannot run: {note}"
            records.append(_test_record(i, verdict, res, note))
            if code == "invalid_tests":  # e.g. a test that never calls the program: it tests nothing
                records[-1]["error_code"] = code
            if verdict == "accepted":
                passed += 1
            elif stop_first:
                break
    failing = [r for r in records if r["verdict"] != "accepted"]
    model_fail = [r for r in failing if r["verdict"] != "sandbox_error"]
    if model_fail:
        code_verdict = model_fail[0]["verdict"]
    elif failing:
        code_verdict = "sandbox_error"
        first = failing[0]
        if first.get("error_code") == "invalid_tests":
            err = {"code": "invalid_input", "field": "tests.test", "message": first["note"]}
            return {"code_verdict": code_verdict, "tests": records, "passed": passed, "total": total, "ran": len(records),
                    "first_failure": first["index"], "error": err}
        if first.get("note") or first.get("detail"):
            return {"code_verdict": code_verdict, "tests": records, "passed": passed, "total": total, "ran": len(records),
                    "first_failure": first["index"], "error": first.get("note") or first.get("detail")}
    else:
        code_verdict = "accepted"
    return {
        "code_verdict": code_verdict,
        "tests": records,
        "passed": passed,
        "total": total,
        "ran": len(records),
        "first_failure": failing[0]["index"] if failing else None,
    }


def grade_code(item: dict, opts: dict) -> tuple[str, str | None, dict[str, Any], float]:
    """(verdict, extracted program, details, accuracy) for a code item."""
    from sandbox import IsolationUnavailable

    program, fence_lang = extract_program(item["completion"], item.get("language"))
    language = choose_language(item.get("language"), fence_lang)
    if not program.strip():
        return "no_answer", None, {"code_verdict": "compile_error", "reason": "empty program"}, 0.0
    refused = unsupported(language, program)
    if refused is not None:  # our gap, not the model's: never a 0 reward
        return "error", None, refused, 0.0
    try:
        validate_tests(item.get("tests"), item.get("language"))
    except InvalidInput as exc:  # a bad label (the batch path refuses it earlier with the item's own field)
        return "error", None, {"code_verdict": "sandbox_error", "error": {"code": exc.code, "field": exc.field, "message": exc.message}}, 0.0
    try:
        out = run_tests(program, language, item["tests"], opts)
    except IsolationUnavailable as exc:
        return "error", None, {"code_verdict": "sandbox_error", "error": f"sandbox unavailable: {exc}"}, 0.0
    out["language"] = language
    cv = out["code_verdict"]
    if cv == "sandbox_error":
        out.setdefault("error", "the sandbox failed while running the program")
        return "error", program[:2000], out, 0.0
    total = max(1, out["total"])
    mode = opts.get("code_reward") or "all_or_nothing"
    accuracy = 1.0 if cv == "accepted" else (out["passed"] / total if mode == "fraction" else 0.0)
    out["pass_fraction"] = out["passed"] / total
    return ("correct" if cv == "accepted" else "incorrect"), program[:2000], out, accuracy


# --------------------------------------------------------------------------- SandboxFusion's /run_code

# SandboxFusion's RunCodeRequest.language values (sandbox/runners/types.py ``Language``),
# the names verl's sandbox_fusion client sends. Those without a row here answer
# ``SandboxError`` like a SandboxFusion without that runtime; any other name is a 422.
SANDBOXFUSION_LANGUAGES = (
    "python", "cpp", "nodejs", "go", "go_test", "java", "php", "csharp", "bash", "typescript", "sql",
    "rust", "cuda", "lua", "R", "perl", "D_ut", "ruby", "scala", "julia", "pytest", "junit",
    "kotlin_script", "jest", "verilog", "python_gpu", "lean", "swift", "racket",
    "js", "ts",  # runner names SandboxFusion also maps (sandbox/runners/major.py MAJOR_RUNNERS)
)


def run_code_language_known(name: str) -> bool:
    """A name SandboxFusion accepts, or one of our own languages and aliases."""
    from sandbox import resolve_language

    return name in SANDBOXFUSION_LANGUAGES or resolve_language(name) is not None


def run_code(req: dict) -> dict:
    """Run one program the way SandboxFusion's ``/run_code`` does; returns its response body.

    Contract: SandboxFusion ``sandbox/server/sandbox_api.py`` (RunCodeRequest,
    RunCodeResponse, parse_run_status) and ``sandbox/runners/types.py``
    (CommandRunResult, CommandRunStatus).
    """
    import base64

    from sandbox import IsolationUnavailable, Limits, resolve_language

    resp: dict[str, Any] = {"status": "Success", "message": "", "compile_result": None, "run_result": None, "executor_pod_name": None, "files": {}}
    refused = unsupported(str(req.get("language", "")), str(req.get("code", "")))
    lang = resolve_language(str(req.get("language", "")))
    if refused is not None or lang is None:  # a SandboxFusion language with no runtime here
        resp.update(status="SandboxError", message=refused["error"]["message"] if refused else "")
        return resp
    mem = req.get("memory_limit_MB")
    mem = int(mem) if mem and int(mem) > 0 else DEFAULT_MEMORY_MB
    run_to = float(req.get("run_timeout") or 10)
    lim = Limits(cpu_time_s=run_to, wall_time_s=run_to, memory_mb=mem, loopback=req.get("network") == "loopback")
    try:
        sb = get_sandbox()
        if lang.compile:
            lang = replace(lang, compile_limits={**lang.compile_limits, "cpu_time_s": float(req.get("compile_timeout") or 10), "wall_time_s": float(req.get("compile_timeout") or 10)})
        with sb.submission(lang, req["code"], lim) as sub:
            for path, b64 in (req.get("files") or {}).items():
                rel = work_path(path)
                if rel is None:
                    resp.update(status="SandboxError", message=f"files[{path!r}]: the path is not inside the working directory")
                    return resp
                if b64 is None:
                    continue
                dst = sub.work / rel
                try:
                    data = base64.b64decode(b64, validate=True)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.write_bytes(data)
                    dst.chmod(0o644)
                except (ValueError, OSError) as exc:  # not base64, or a path another file's path makes impossible
                    resp.update(status="SandboxError", message=f"files[{path!r}] cannot be written: {type(exc).__name__}")
                    return resp
            for d in sub.work.rglob("*"):
                if d.is_dir():
                    d.chmod(0o755)
            if sub.compile_result is not None:
                resp["compile_result"] = _sf_result(sub.compile_result)
                if not sub.compiled:
                    resp["status"] = "SandboxError" if sub.compile_result.status == "sandbox_error" else "Failed"
                    return resp
            links = sorted({str(p).strip("/").split("/")[0] for p in [*(req.get("files") or {}), *(req.get("fetch_files") or [])]
                            if str(p).startswith("/") and work_path(p)} - {"work", "tmp"})
            for name in links:  # the directory /NAME links to
                (sub.work / name).mkdir(mode=0o755, exist_ok=True)
                (sub.work / name).chmod(0o755)
            res = sub.run(stdin=(req.get("stdin") or "").encode(), writable=True, links=links)
            resp["run_result"] = _sf_result(res)
            resp["files"] = _fetch(sub.work, req.get("fetch_files") or [])
    except IsolationUnavailable as exc:
        resp.update(status="SandboxError", message=f"sandbox unavailable: {exc}")
        return resp
    rr = resp["run_result"]
    if rr["status"] == "Error":
        resp.update(status="SandboxError", message=res.detail or "")
    elif rr["status"] == "TimeLimitExceeded" or rr["return_code"] not in (0, None):
        resp["status"] = "Failed"
    return resp


def work_path(path: str) -> str | None:
    """Where a SandboxFusion ``files``/``fetch_files`` path lives in the run's working directory:
    relative paths keep their directories; absolute ones are taken under the working directory
    (``/work/x`` is ``x``; another absolute path ``/a/b`` is ``a/b``, which the program also sees at
    ``/a/b``: the run's root links ``/a`` to ``/work/a`` unless ``/a`` exists there, e.g. ``/usr``).
    None for ``..`` or empty paths."""
    parts = [p for p in str(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if parts[:1] == ["work"] and str(path).startswith("/"):
        parts = parts[1:]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


FETCH_CAP = 16 * 1024 * 1024  # bytes of fetch_files returned in all


def _fetch(work, paths: list) -> dict[str, str]:
    """SandboxFusion's ``fetch_files``: each file the program left, base64, under the name asked for."""
    import base64

    out: dict[str, str] = {}
    left = FETCH_CAP
    for path in paths:
        rel = work_path(path)
        if rel is None:
            continue
        f = work / rel
        if f.is_symlink() or not f.is_file() or f.stat().st_size > left:
            continue
        data = f.read_bytes()
        left -= len(data)
        out[str(path)] = base64.b64encode(data).decode()
    return out


def _sf_result(res) -> dict:
    status = {"sandbox_error": "Error", "time_limit": "TimeLimitExceeded"}.get(res.status, "Finished")
    rc = res.exit_code if res.exit_code is not None else (128 + res.signal if res.signal else None)
    if res.status in ("memory_limit", "output_limit") and rc in (0, None):
        rc = 137
    return {
        "status": status,
        "execution_time": round(res.wall_s, 4),
        "return_code": rc if status != "TimeLimitExceeded" else None,
        "stdout": res.stdout.decode(errors="replace"),
        "stderr": res.stderr.decode(errors="replace"),
    }
