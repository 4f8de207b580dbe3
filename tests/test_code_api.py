"""Code through the HTTP API of a real server: /v1/score with task code, /v1/info, and /run_code.

/run_code follows SandboxFusion's contract: request and response models in
SandboxFusion's sandbox/server/sandbox_api.py (RunCodeRequest, RunCodeResponse,
RunStatus, parse_run_status) and sandbox/runners/types.py (CommandRunResult,
CommandRunStatus: Finished / Error / TimeLimitExceeded). The payload below is
the one verl's verl/utils/reward_score/sandbox_fusion/utils.py sends.
"""

from __future__ import annotations

import httpx


def test_score_code_items(embedded_server):
    tests = {"format": "stdio", "cases": [{"input": "2 3\n", "output": "5"}]}
    items = [
        {"id": "ok", "task": "code", "completion": "```python\na,b=map(int,input().split())\nprint(a+b)\n```", "tests": tests},
        {"id": "wa", "task": "code", "completion": "```python\nprint(0)\n```", "tests": tests},
        {"id": "tle", "task": "code", "completion": "```python\nwhile True: pass\n```", "tests": tests, "options": {"time_limit_s": 0.5}},
        {"id": "cpp", "task": "code", "completion": "```cpp\n#include <cstdio>\nint main(){int a,b;scanf(\"%d%d\",&a,&b);printf(\"%d\\n\",a+b);}\n```", "tests": tests},
        {"id": "bad", "task": "code", "completion": "x", "tests": {"format": "nope"}},
    ]
    r = httpx.post(embedded_server + "/v1/score", json={"items": items}, timeout=120)
    assert r.status_code == 200, r.text
    res = {x["id"]: x for x in r.json()["results"]}
    assert (res["ok"]["verdict"], res["ok"]["details"]["code_verdict"], res["ok"]["reward"]) == ("correct", "accepted", 1.0)
    assert (res["wa"]["verdict"], res["wa"]["details"]["code_verdict"]) == ("incorrect", "wrong_answer")
    assert (res["tle"]["verdict"], res["tle"]["details"]["code_verdict"]) == ("incorrect", "time_limit")
    assert res["cpp"]["details"]["code_verdict"] == "accepted"
    assert res["bad"]["verdict"] == "error" and res["bad"]["details"]["error"]["field"] == "items[4].tests.format"


def test_info_reports_isolation(embedded_server):
    info = httpx.get(embedded_server + "/v1/info", timeout=60).json()
    iso = info["isolation"]
    assert iso["available"] is True
    assert set(iso["namespaces"]) >= {"user", "pid", "net", "mount"}
    assert info["verifiers"]["code"]["python"]["available"] is True


def _run_code(url: str, **body) -> dict:
    payload = {"compile_timeout": 10, "run_timeout": 5, "memory_limit_MB": 512, "language": "python", "files": {}, "fetch_files": [], "stdin": ""}
    payload.update(body)
    r = httpx.post(url + "/run_code", json=payload, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) >= {"status", "message", "compile_result", "run_result", "files"}
    return out


def test_run_code_sandboxfusion_contract(embedded_server):
    ok = _run_code(embedded_server, code="print(input()[::-1])", stdin="abc\n")
    assert ok["status"] == "Success"
    rr = ok["run_result"]
    assert rr["status"] == "Finished" and rr["return_code"] == 0 and rr["stdout"] == "cba\n"
    assert isinstance(rr["execution_time"], float)

    fail = _run_code(embedded_server, code="import sys\nsys.exit(3)")
    assert fail["status"] == "Failed" and fail["run_result"]["return_code"] == 3

    tle = _run_code(embedded_server, code="while True: pass", run_timeout=1)
    assert tle["status"] == "Failed" and tle["run_result"]["status"] == "TimeLimitExceeded"

    cpp = _run_code(embedded_server, language="cpp", code="#include <iostream>\nint main(){std::cout<<42;}")
    assert cpp["status"] == "Success" and cpp["compile_result"]["status"] == "Finished" and cpp["run_result"]["stdout"] == "42"

    ce = _run_code(embedded_server, language="cpp", code="int main(){ nope; }")
    assert ce["status"] == "Failed" and ce["compile_result"]["return_code"] != 0 and ce["run_result"] is None

    unknown = _run_code(embedded_server, language="cobol", code="x")
    assert unknown["status"] == "SandboxError"


def test_run_code_python_syntax_error_is_what_the_interpreter_does(embedded_server):
    for code, name in (("def f(x) return 1", "SyntaxError"), ("if True:\nprint(1)", "IndentationError")):
        out = _run_code(embedded_server, code=code)
        rr = out["run_result"]
        assert out["status"] == "Failed" and rr["status"] == "Finished" and rr["return_code"] == 1, out
        assert name in rr["stderr"] and 'File "main.py", line' in rr["stderr"], rr["stderr"]


# verl's client, replayed: verl-project/verl verl/utils/reward_score/sandbox_fusion/utils.py
# (_process_single_case and check_correctness): the request it sends and how it reads the answer.
def _verl_case(url: str, generation: str, stdin: str | None, expected_output: str | None, timeout: int = 10):
    payload = {"compile_timeout": timeout, "run_timeout": timeout, "code": generation, "stdin": stdin, "memory_limit_MB": 1024, "language": "python", "files": {}, "fetch_files": []}
    api = httpx.post(url + "/run_code", json=payload, timeout=60).json()
    compile_result, run_result, api_status = api.get("compile_result"), api.get("run_result"), api.get("status")
    if api_status == "SandboxError":
        return -1
    if api_status == "Failed":
        if compile_result and (compile_result.get("status") in ["Error", "TimeLimitExceeded"] or (compile_result.get("status") == "Finished" and compile_result.get("return_code") != 0)):
            return -4
        if run_result:
            rs = run_result.get("status")
            if rs == "TimeLimitExceeded":
                return -3
            if rs == "Error" or (rs == "Finished" and run_result.get("return_code") != 0):
                return -2
            return -1
        return -1
    if api_status == "Success":
        if run_result and run_result.get("status") == "Finished":
            actual = run_result.get("stdout") if run_result.get("stdout") is not None else ""
            return expected_output is None or str(actual).rstrip("\n") == str(expected_output).rstrip("\n")
        return -1
    return -1


def _verl_check_correctness(url: str, in_outs: dict, generation: str) -> list:
    n = len(in_outs["inputs"])
    asserts = in_outs.get("assert_case", [""] * n)
    return [_verl_case(url, generation + "\n\n" + asserts[i], None if inp is None else str(inp), in_outs["outputs"][i]) for i, inp in enumerate(in_outs["inputs"])]


def test_verl_check_correctness_scores_a_non_compiling_solution_zero(embedded_server):
    broken = "def add(a, b)\n    return a + b"
    good = "def add(a, b):\n    return a + b"
    assert_tests = {"inputs": [None, None], "outputs": [None, None], "assert_case": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]}
    empty_out = {"inputs": ["", ""], "outputs": ["", ""]}
    for in_outs in (assert_tests, empty_out):
        assert _verl_check_correctness(embedded_server, in_outs, good) == [True, True]
        res = _verl_check_correctness(embedded_server, in_outs, broken)
        assert True not in res and res == [-2, -2], res
    indent = "def add(a, b):\nreturn a + b"
    assert _verl_check_correctness(embedded_server, assert_tests, indent) == [-2, -2]
