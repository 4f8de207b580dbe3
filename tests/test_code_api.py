"""Code through the HTTP API of a real server: /v1/score with task code, /v1/info, and /run_code.

/run_code follows SandboxFusion's contract: request and response models in
SandboxFusion's sandbox/server/sandbox_api.py (RunCodeRequest, RunCodeResponse,
RunStatus, parse_run_status) and sandbox/runners/types.py (CommandRunResult,
CommandRunStatus: Finished / Error / TimeLimitExceeded). The payload below is
the one verl's verl/utils/reward_score/sandbox_fusion/utils.py sends.
"""

from __future__ import annotations

import httpx

from tests.helpers import need_language


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
    # the libraries SandboxFusion's datasets expect, per language, installed or not
    assert set(info["verifiers"]["code"]["java"]["libraries"]) == {"javatuples"}
    assert set(info["verifiers"]["code"]["cpp"]["libraries"]) == {"boost"}
    assert set(info["verifiers"]["code"]["javascript"]["libraries"]) == {"lodash"}


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

    # A SandboxFusion language with no runtime here: SandboxError naming it (as SandboxFusion
    # without that runtime); a name SandboxFusion does not know at all: 422 (a Literal there).
    lua = _run_code(embedded_server, language="lua", code="print(1)")
    assert lua["status"] == "SandboxError" and "'lua'" in lua["message"] and lua["run_result"] is None
    r = httpx.post(embedded_server + "/run_code", json={"language": "cobol", "code": "x"}, timeout=60)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "language" and "cobol" in r.json()["error"]["message"]


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


GO_ADD = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n'
RUST_ADD = (
    "fn main() {\n    let mut s = String::new();\n    std::io::stdin().read_line(&mut s).unwrap();\n"
    "    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!(\"{}\", v[0] + v[1]);\n}\n"
)
BASH_ADD = "read a b\necho $((a + b))\n"


def test_go_rust_bash_over_http(embedded_server):
    """/v1/score and verl's /run_code payload in each new language (tests/verirl/test_languages.py has the rest)."""
    for lang in ("go", "rust", "bash"):
        need_language(lang)
    tests = {"format": "stdio", "cases": [{"input": "2 3\n", "output": "5"}, {"input": "-1 1\n", "output": "0"}]}
    progs = {"go": GO_ADD, "rust": RUST_ADD, "bash": BASH_ADD}
    items = []
    for lang, prog in progs.items():
        items.append({"id": f"{lang}-ok", "task": "code", "completion": f"```{lang}\n{prog}```", "tests": tests})
        items.append({"id": f"{lang}-wa", "task": "code", "completion": f"```{lang}\n{prog.replace(' + ', ' * ')}```", "tests": tests})
    items.append({"id": "unsupported", "task": "code", "language": "cobol", "completion": "DISPLAY 5.", "tests": tests})
    r = httpx.post(embedded_server + "/v1/score", json={"items": items}, timeout=300)
    assert r.status_code == 200, r.text
    res = {x["id"]: x for x in r.json()["results"]}
    for lang in progs:
        assert (res[f"{lang}-ok"]["verdict"], res[f"{lang}-ok"]["details"]["code_verdict"], res[f"{lang}-ok"]["reward"]) == ("correct", "accepted", 1.0)
        assert (res[f"{lang}-wa"]["verdict"], res[f"{lang}-wa"]["details"]["code_verdict"]) == ("incorrect", "wrong_answer")
    bad = res["unsupported"]
    assert (bad["verdict"], bad["reward"], bad["details"]["error"]["code"]) == ("error", None, "unsupported_language")

    for lang, prog in progs.items():  # verl's sandbox_fusion names: go, rust, bash
        ok = _run_code(embedded_server, language=lang, code=prog, stdin="20 22\n")
        assert ok["status"] == "Success" and ok["run_result"]["stdout"] == "42\n", ok
        assert (ok["compile_result"] is None) == (lang == "bash")
    ce = _run_code(embedded_server, language="go", code="package main\nfunc main() { x := 1 }\n")
    assert ce["status"] == "Failed" and ce["compile_result"]["return_code"] != 0 and ce["run_result"] is None
    assert "declared" in ce["compile_result"]["stderr"]


def test_run_code_memory_limit_above_the_item_maximum_is_a_422(embedded_server):
    # issue 19: 100000 MB gave the run a 105 GB address space and its cgroup that limit
    r = httpx.post(embedded_server + "/run_code", json={"language": "python", "code": "print(1)", "memory_limit_MB": 100000}, timeout=60)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "memory_limit_MB" and "8192" in r.json()["error"]["message"]
    ok = _run_code(embedded_server, code="print(1)", memory_limit_MB=8192)
    assert ok["status"] == "Success"


def test_run_code_files_outside_the_working_directory_are_a_422_naming_them(embedded_server):
    # the outside attack of 2026-12-05: "../../x" in files was dropped without a word
    for field, value in (("files", {"../../x": "eA=="}), ("files", {"": "eA=="}), ("fetch_files", ["a/../../etc/passwd"])):
        r = httpx.post(embedded_server + "/run_code", json={"language": "python", "code": "print(1)", field: value}, timeout=60)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["field"].startswith(field) and "working directory" in err["message"], err
    ok = _run_code(embedded_server, code="print(open('d/x').read())", files={"d/x": "aGk="})
    assert ok["status"] == "Success" and ok["run_result"]["stdout"] == "hi\n", ok


def test_run_code_sees_only_its_own_cgroup_root(embedded_server):
    out = _run_code(embedded_server, code="print(open('/proc/self/cgroup').read())")
    lines = [ln for ln in out["run_result"]["stdout"].splitlines() if ln]
    assert lines and all(ln.endswith(":/") for ln in lines), lines  # no host path, no slot number


def test_run_code_loopback_when_asked(embedded_server):
    """verirl's `network: "loopback"` on /run_code: a program serving and calling itself (off by default)."""
    code = ("import socket, threading\nsrv = socket.socket()\nsrv.bind(('127.0.0.1', 0))\nsrv.listen(1)\n"
            "threading.Thread(target=lambda: srv.accept()[0].sendall(b'pong'), daemon=True).start()\n"
            "print(socket.create_connection(srv.getsockname()).recv(4).decode())\n")
    on = _run_code(embedded_server, code=code, network="loopback")
    assert on["status"] == "Success" and on["run_result"]["stdout"] == "pong\n", on
    off = _run_code(embedded_server, code=code)
    assert off["status"] == "Failed" and "pong" not in off["run_result"]["stdout"] and "Error" in off["run_result"]["stderr"], off


def test_run_code_memory_limit_and_compile_timeout(embedded_server):
    """SandboxFusion's memory_limit_MB bounds the run; compile_timeout bounds the compile step (its own limit)."""
    grab = "x = bytearray(300 * 1024 * 1024)\nprint(len(x) // (1024 * 1024))"
    small = _run_code(embedded_server, code=grab, memory_limit_MB=128)
    assert small["status"] == "Failed" and small["run_result"]["return_code"] != 0, small
    big = _run_code(embedded_server, code=grab, memory_limit_MB=1024)
    assert big["status"] == "Success" and big["run_result"]["stdout"] == "300\n", big
    # a constexpr bomb (each constant under g++'s operation limit) the compiler cannot finish in 1 s
    from tests.verirl.test_languages import CONSTEXPR_BOMB as bomb

    ce = _run_code(embedded_server, language="cpp", code=bomb, compile_timeout=1)
    assert ce["status"] == "Failed" and ce["run_result"] is None, ce
    assert ce["compile_result"]["status"] == "TimeLimitExceeded", ce


def test_run_code_files_keep_their_paths_and_bad_ones_are_refused(embedded_server):
    import base64

    b64 = base64.b64encode(b"data").decode()
    ok = _run_code(embedded_server, language="bash", code="cat a/b/c /work/d; echo -n x > a/out",
                   files={"a/b/c": b64, "/work/d": b64}, fetch_files=["a/out", "missing"])
    assert ok["status"] == "Success" and ok["run_result"]["stdout"] == "datadata", ok
    assert ok["files"] == {"a/out": base64.b64encode(b"x").decode()}
    bad = _run_code(embedded_server, code="print(1)", files={"x": "not base64!"})
    assert bad["status"] == "SandboxError" and "files['x']" in bad["message"], bad
    clash = _run_code(embedded_server, code="print(1)", files={"a": b64, "a/b": b64})
    assert clash["status"] == "SandboxError" and "a/b" in clash["message"], clash
