"""Code verification: run a model's program against tests in the sandbox.

Test formats (``tests`` of an item):

``{"format": "stdio", "cases": [{"input", "output"}], "checker": "tokens"|"exact"|"float:1e-6"}``
    Codeforces/APPS style. ``tokens`` (default) compares whitespace-separated
    tokens (trailing whitespace and blank lines never matter); ``exact``
    compares lines with trailing spaces and trailing blank lines removed;
    ``float:TOL`` compares numeric tokens with absolute/relative tolerance TOL.
``{"format": "call", "fn_name", "cases": [{"args": [...], "expected"}]}``
    LeetCode/TACO style (Python): calls ``fn_name`` (or ``Solution().fn_name``)
    in the sandbox, serialises the result with the standard ``json`` module
    there and compares the JSON value here, so ``__eq__`` overrides cannot fake
    equality.
``{"format": "assert", "test": "<code>", "entry_point"?}``
    HumanEval/MBPP style (Python): the test code runs after the solution, then
    ``check(entry_point)`` if the test defines ``check``. Passing requires that
    the harness reached its end: ``sys.exit(0)`` or ``os._exit(0)`` before the
    asserts is a failure.

Every test is a fresh process forked from the sandbox's warm zygote: no state
survives from one test to the next.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
from dataclasses import replace
from typing import Any

from verirl.errors import InvalidInput

CODE_VERDICTS = (
    "accepted", "wrong_answer", "time_limit", "memory_limit", "runtime_error",
    "compile_error", "output_limit", "sandbox_error", "unsupported_language",
)
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 512
MAX_CASES = 10_000
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)


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
    if fmt == "stdio":
        chk = tests.get("checker", "tokens")
        if chk not in ("tokens", "exact") and not re.fullmatch(r"float:[0-9.eE+-]+", str(chk)):
            raise InvalidInput("checker must be tokens, exact or float:TOL", field="tests.checker")
    if fmt == "call" and not isinstance(tests.get("fn_name"), str):
        raise InvalidInput("call tests need `fn_name`", field="tests.fn_name")
    if fmt == "assert" and not isinstance(tests.get("test"), str):
        raise InvalidInput("assert tests need `test` code", field="tests.test")
    if fmt in ("call", "assert") and language and language.lower() not in ("python", "python3", "py", "py3"):
        raise InvalidInput(f"{fmt} tests run Python programs only", field="language")


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

def extract_program(completion: str, language: str | None) -> tuple[str, str | None]:
    """The last fenced code block (and its fence language); the whole text if there is none."""
    blocks = _FENCE.findall(completion)
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


def unsupported(language: str) -> dict | None:
    """The verdict details when ``language`` cannot run here (``None`` when it can)."""
    from sandbox import available_languages, resolve_language

    lang = resolve_language(language)
    here = sorted(available_languages())
    if lang is None:
        code, msg = "unsupported_language", f"language {language!r} is not supported; supported here: {', '.join(here)}"
    elif lang.name not in here:
        code, msg = "language_unavailable", f"language {lang.name!r} is not installed on this verifier ({', '.join(lang.needs)} missing)"
    else:
        return None
    return {"code_verdict": "unsupported_language", "error": {"code": code, "message": msg, "language": language}}


# --------------------------------------------------------------------------- comparison

def compare_stdio(got: str, want: str, checker: str = "tokens") -> bool:
    if checker == "exact":
        norm = lambda s: [ln.rstrip() for ln in s.rstrip().splitlines()]  # noqa: E731
        return norm(got) == norm(want)
    g, w = got.split(), want.split()
    if len(g) != len(w):
        return False
    if checker.startswith("float:"):
        tol = float(checker.split(":", 1)[1])
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


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of two JSON values: true is not 1, floats within 1e-9, lists in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- harnesses (Python source run in the sandbox)

# Captured before the solution runs, so a solution that patches os/json cannot touch them.
_PROLOGUE = "import os as __v_os, json as __v_json, sys as __v_sys; __v_w, __v_d, __v_l, __v_in = __v_os.write, __v_json.dumps, __v_json.loads, __v_sys.stdin.read\n"

_CALL_HARNESS = r'''

def __verirl_call(__fd=__v_w, __dumps=__v_d, __load=__v_l, __read=__v_in):
    __args = __load(__read())
    __fn = globals().get({fn!r})
    if __fn is None and "Solution" in globals():
        __fn = getattr(globals()["Solution"](), {fn!r})
    if __fn is None:
        raise NameError("function {fn} is not defined")
    __r = __fn(*__args)
    __fd(3, ({nonce!r} + __dumps(__r)).encode())
__verirl_call()
'''

_ASSERT_HARNESS = r'''

{check}
__v_w(3, {nonce!r}.encode())
'''


def _python_entry_check(tests: dict) -> str:
    entry = tests.get("entry_point")
    if entry and re.search(r"^def\s+check\s*\(", tests["test"], re.MULTILINE):
        return f"check({entry})"
    return ""


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
    from sandbox import LANGUAGES, available_languages

    avail = available_languages()
    return {
        name: {"available": name in avail, "aliases": list(lang.aliases), "compiled": lang.compile is not None}
        for name, lang in LANGUAGES.items()
    }


# --------------------------------------------------------------------------- grading

def _limits(opts: dict):
    from sandbox import Limits

    return Limits(
        cpu_time_s=float(opts.get("time_limit_s") or DEFAULT_TIME_LIMIT_S),
        memory_mb=int(opts.get("memory_mb") or DEFAULT_MEMORY_MB),
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
    if lang.name == "python":
        try:
            compile(program, "main.py", "exec")
        except (SyntaxError, ValueError) as exc:
            return {"code_verdict": "compile_error", "tests": [], "passed": 0, "total": total, "compile_stderr": str(exc)[:1000]}
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
            if cr.status == "time_limit":
                out["reason"] = f"compilation exceeded its limit ({sub.compile_limits.cpu_time_s:g} s CPU)"
            if cr.detail:
                out["error" if verdict == "sandbox_error" else "compile_detail"] = cr.detail
            return out
        for i, case in enumerate(cases):
            nonce = "VERIRL-" + secrets.token_hex(16) + ":"
            if fmt == "stdio":
                res = sub.run(stdin=case["input"].encode())
            elif fmt == "call":
                src = _PROLOGUE + program + _CALL_HARNESS.format(fn=tests["fn_name"], nonce=nonce)
                res = sub.run(stdin=json.dumps(case["args"]).encode(), source=src)
            else:
                src = _PROLOGUE + program + "\n\n" + tests["test"] + _ASSERT_HARNESS.format(check=_python_entry_check(tests), nonce=nonce)
                res = sub.run(source=src)
            if res.status == "ok":
                if fmt == "stdio":
                    ok = compare_stdio(res.stdout.decode(errors="replace"), case["output"], tests.get("checker", "tokens"))
                elif fmt == "call":
                    aux = res.aux.decode(errors="replace")
                    ok = aux.startswith(nonce)
                    if ok:
                        try:
                            ok = _json_equal(json.loads(aux[len(nonce):]), case["expected"])
                        except ValueError:
                            ok = False
                else:
                    ok = res.aux.decode(errors="replace") == nonce
                verdict = "accepted" if ok else "wrong_answer"
                note = None if ok or fmt != "assert" else "the test code did not run to its end"
            else:
                verdict, note = res.status, None
            records.append(_test_record(i, verdict, res, note))
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
    refused = unsupported(language)
    if refused is not None:  # our gap, not the model's: never a 0 reward
        return "error", None, refused, 0.0
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
    refused = unsupported(str(req.get("language", "")))
    lang = resolve_language(str(req.get("language", "")))
    if refused is not None or lang is None:  # a SandboxFusion language with no runtime here
        resp.update(status="SandboxError", message=refused["error"]["message"] if refused else "")
        return resp
    mem = req.get("memory_limit_MB")
    mem = int(mem) if mem and int(mem) > 0 else DEFAULT_MEMORY_MB
    run_to = float(req.get("run_timeout") or 10)
    lim = Limits(cpu_time_s=run_to, wall_time_s=run_to, memory_mb=mem)
    try:
        sb = get_sandbox()
        if lang.compile:
            lang = replace(lang, compile_limits={**lang.compile_limits, "cpu_time_s": float(req.get("compile_timeout") or 10), "wall_time_s": float(req.get("compile_timeout") or 10)})
        with sb.submission(lang, req["code"], lim) as sub:
            for path, b64 in (req.get("files") or {}).items():
                if b64 is None:
                    continue
                name = path.strip("/").split("/")[-1]
                if name and name not in (".", ".."):
                    (sub.work / name).write_bytes(base64.b64decode(b64))
                    (sub.work / name).chmod(0o644)
            if sub.compile_result is not None:
                resp["compile_result"] = _sf_result(sub.compile_result)
                if not sub.compiled:
                    resp["status"] = "SandboxError" if sub.compile_result.status == "sandbox_error" else "Failed"
                    return resp
            res = sub.run(stdin=(req.get("stdin") or "").encode())
            resp["run_result"] = _sf_result(res)
    except IsolationUnavailable as exc:
        resp.update(status="SandboxError", message=f"sandbox unavailable: {exc}")
        return resp
    rr = resp["run_result"]
    if rr["status"] == "Error":
        resp.update(status="SandboxError", message=res.detail or "")
    elif rr["status"] == "TimeLimitExceeded" or rr["return_code"] not in (0, None):
        resp["status"] = "Failed"
    return resp


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
