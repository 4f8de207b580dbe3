"""Public code datasets' label shapes to verirl ``tests``, read the way each dataset's own harness reads them.

A shape is recognised by its fields; each converter reproduces what that
dataset's harness runs and how it compares (the harness named beside it):

=====================================  ==========================================================
``{"input_output": ..., "fn_name"?}``  APPS / TACO row (``input_output`` a JSON string or object)
``{"inputs", "outputs", "fn_name"?}``  APPS/TACO ``input_output``, verl ``prime_code`` ground truth
                                       (APPS ``testing_util.run_test``; verl
                                       ``prime_code/testing_util.py``)
``{"public_tests", "private_tests",``  CodeContests (``{"input": [...], "output": [...]}`` each)
``"generated_tests"}``
``[{"input", "output", "testtype",``   DeepCoder / LiveCodeBench / PrimeIntellect test lists
``"metadata": {"func_name"}}]``        (rllm ``code_reward.py``; LiveCodeBench ``testing_util``)
``{"public_test_cases", ...}``         LiveCodeBench row (JSON-string test lists, ``metadata``)
``{"test", "test_info"}``              KodCode (pytest file importing from ``solution``)
``{"test_list", "test_setup_code"?,``  MBPP (full and sanitized: ``test_imports``)
``"challenge_test_list"?}``
``{"prompt", "test", "entry_point"}``  HumanEval
=====================================  ==========================================================

Call-based (``fn_name``) comparisons:

* APPS/TACO/PrimeIntellect and verl ``prime_code``: ``output == outputs[i] or
  output == outputs[i][0]`` (outputs wrapped in a list or not). APPS's inputs are
  lists of arguments; verl's current ``prime_code`` (and LiveCodeBench) inputs are
  strings of newline-separated JSON arguments with JSON-string outputs: a string
  input is read that way. Tuples compare as lists, and dict keys as JSON strings
  (the harnesses turn JSON's string keys back into ints: the same equality).
* LiveCodeBench functional (``testtype: "functional"``): JSON-line arguments, the
  JSON output compared as is (its harness has no ``outputs[i][0]`` rule).

Stdio: inputs and outputs given as lists of lines are joined with newlines (as
APPS's ``run_test`` does); outputs are compared token by token (the harnesses
strip lines and compare whitespace-split tokens).

Imports: APPS/TACO ``run_test``, verl ``prime_code`` (and its sandbox_fusion wrapper) and
LiveCodeBench run every program (stdio and call-based) after a block of star imports
(``from collections import *``, ``from typing import *``, ...), so a reference that uses
``defaultdict`` unimported is accepted there. Their shapes carry :data:`HARNESS_IMPORTS` as the
tests' ``imports``; CodeContests, KodCode, MBPP and HumanEval harnesses run the program as is.

Nothing here runs dataset code: labels are read with ``json.loads`` and test
code is only parsed (``ast``) to be rewritten; it runs in the sandbox's judge.
A label of a known shape that is malformed, or of no known shape, raises
:class:`LabelShapeError` naming the field (the item's verdict is then ``error``).
"""

from __future__ import annotations

import ast
import json
from typing import Any


class LabelShapeError(ValueError):
    """A code label we cannot turn into tests: a bad label, never a wrong program."""

    def __init__(self, message: str, field: str = "label") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


#: Fields that make a label object a code label (of some dataset's shape).
CODE_FIELDS = frozenset({
    "tests", "input_output", "inputs", "outputs", "fn_name", "public_tests", "private_tests", "generated_tests",
    "public_test_cases", "private_test_cases", "test", "test_info", "test_list", "test_setup_code",
    "challenge_test_list", "entry_point",
})


#: The import block LiveCodeBench's ``testing_util`` and verl's ``prime_code/testing_util.py`` put
#: before every program (APPS/TACO's own block is a subset of it, plus numpy, left out here).
HARNESS_IMPORTS = "\n".join([
    *(f"from {m} import *" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math",
                                     "random", "statistics", "itertools", "functools", "operator", "io", "sys",
                                     "json", "builtins", "typing")),
    *(f"import {m}" for m in ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                               "statistics", "itertools", "functools", "operator", "io", "sys", "json")),
])


def _harnessed(tests: dict) -> dict:
    return {**tests, "imports": HARNESS_IMPORTS}


def _json(value: Any, field: str) -> Any:
    """A JSON string decoded (other values as they are)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise LabelShapeError(f"{field} is a string that is not JSON", field) from None
    return value


def looks_like_test_list(value: Any) -> bool:
    """DeepCoder/LiveCodeBench/PrimeIntellect: a non-empty list of {"input", "output", ...} objects."""
    return isinstance(value, list) and bool(value) and all(isinstance(t, dict) and "input" in t and "output" in t for t in value)


def _lines(v: Any, field: str) -> str:
    """A stdio input or output: a string, or a list of lines joined with newlines (APPS's run_test)."""
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "\n".join(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise LabelShapeError(f"{field} must be a string or a list of lines, not {type(v).__name__}", field)


def _json_lines(s: str, field: str) -> list:
    """verl prime_code / LiveCodeBench: one JSON value per line, each an argument."""
    try:
        return [json.loads(line) for line in s.split("\n")]
    except (ValueError, RecursionError):
        raise LabelShapeError(f"{field} is a string whose lines are not JSON arguments", field) from None


def call_tests(fn_name: Any, inputs: list, outputs: list, *, wrapped_ok: bool, field: str) -> dict:
    """Call tests from parallel inputs/outputs (APPS ``wrapped_ok`` rule: ``outputs[i][0]`` also passes)."""
    if not isinstance(fn_name, str) or not fn_name.strip():
        raise LabelShapeError("fn_name must name the function to call", f"{field}.fn_name")
    cases = []
    for i, (a, e) in enumerate(zip(inputs, outputs, strict=True)):
        if isinstance(a, str):  # newline-separated JSON arguments, a JSON-string result
            args = _json_lines(a, f"{field}.inputs[{i}]")
            e = _json(e, f"{field}.outputs[{i}]")
        elif isinstance(a, list):
            args = a
        else:
            args = [a]
        case: dict[str, Any] = {"args": args, "expected": e}
        if wrapped_ok and isinstance(e, list) and e:
            case["expected_alternatives"] = [e[0]]
        cases.append(case)
    return {"format": "call", "fn_name": fn_name.strip(), "cases": cases}


def stdio_tests(inputs: list, outputs: list, field: str) -> dict:
    cases = [
        {"input": _lines(a, f"{field}.inputs[{i}]"), "output": _lines(e, f"{field}.outputs[{i}]")}
        for i, (a, e) in enumerate(zip(inputs, outputs, strict=True))
    ]
    return {"format": "stdio", "cases": cases}


def apps_tests(obj: dict, field: str = "label") -> dict:
    """APPS/TACO ``input_output`` (or verl prime_code's ground truth): ``{"inputs", "outputs", "fn_name"?}``."""
    ins, outs = obj.get("inputs"), obj.get("outputs")
    if not isinstance(ins, list) or not isinstance(outs, list):
        raise LabelShapeError("inputs and outputs must both be lists", f"{field}.inputs")
    if not ins:
        raise LabelShapeError("inputs is empty: no test to run", f"{field}.inputs")
    if len(ins) != len(outs):
        raise LabelShapeError(f"{len(ins)} inputs but {len(outs)} outputs", f"{field}.outputs")
    if obj.get("fn_name"):
        return call_tests(obj["fn_name"], ins, outs, wrapped_ok=True, field=field)
    return stdio_tests(ins, outs, field)


def test_list_tests(tests: list, field: str = "label") -> dict:
    """DeepCoder / LiveCodeBench / PrimeIntellect: ``[{"input", "output", "testtype"?, "metadata"?, "fn_name"?}]``."""
    first = tests[0]
    ins = [t["input"] for t in tests]
    outs = [t["output"] for t in tests]
    if first.get("testtype") == "functional":  # LiveCodeBench: JSON-line arguments, exact JSON result
        meta = _json(first.get("metadata") or {}, f"{field}[0].metadata")
        fn = meta.get("func_name") if isinstance(meta, dict) else None
        if not fn:
            raise LabelShapeError("functional tests need metadata.func_name", f"{field}[0].metadata.func_name")
        for i, a in enumerate(ins):
            if not isinstance(a, str):
                raise LabelShapeError("functional inputs must be JSON-line strings", f"{field}[{i}].input")
        return call_tests(fn, ins, outs, wrapped_ok=False, field=field)
    meta = _json(first.get("metadata") or {}, f"{field}[0].metadata")
    fn = first.get("fn_name") or (meta.get("func_name") if isinstance(meta, dict) else None)
    if fn:  # PrimeIntellect: TACO's run_test on {"inputs", "outputs", "fn_name"}
        return call_tests(fn, ins, outs, wrapped_ok=True, field=field)
    return stdio_tests(ins, outs, field)


def codecontests_tests(obj: dict, field: str = "label") -> dict:
    """CodeContests: public, private and generated tests, each ``{"input": [...], "output": [...]}``."""
    ins: list = []
    outs: list = []
    for key in ("public_tests", "private_tests", "generated_tests"):
        part = _json(obj.get(key), f"{field}.{key}")
        if part is None:
            continue
        if not (isinstance(part, dict) and isinstance(part.get("input"), list) and isinstance(part.get("output"), list)):
            raise LabelShapeError(f'{key} must be {{"input": [...], "output": [...]}}', f"{field}.{key}")
        if len(part["input"]) != len(part["output"]):
            raise LabelShapeError(f"{key} has {len(part['input'])} inputs but {len(part['output'])} outputs", f"{field}.{key}")
        ins += part["input"]
        outs += part["output"]
    if not ins:
        raise LabelShapeError("public_tests, private_tests and generated_tests hold no test", f"{field}.public_tests")
    return stdio_tests(ins, outs, field)


def lcb_row_tests(obj: dict, field: str = "label") -> dict:
    """A LiveCodeBench row: ``public_test_cases`` / ``private_test_cases`` (JSON strings) and ``metadata``."""
    tests: list = []
    for key in ("public_test_cases", "private_test_cases"):
        part = obj.get(key)
        if part is None or part == "":
            continue
        try:
            part = _json(part, f"{field}.{key}")
        except LabelShapeError:  # LiveCodeBench ships private tests zlib+pickle compressed: never unpickled here
            raise LabelShapeError(
                f"{key} is not JSON (LiveCodeBench compresses private tests with pickle, which verirl never loads): "
                "decode them to a JSON list in your preprocessing", f"{field}.{key}") from None
        if part == []:
            continue
        if not looks_like_test_list(part):
            raise LabelShapeError(f'{key} must be a list of {{"input", "output", "testtype"}}', f"{field}.{key}")
        tests += part
    if not tests:
        raise LabelShapeError("public_test_cases and private_test_cases hold no test", f"{field}.public_test_cases")
    meta = _json(obj.get("metadata") or {}, f"{field}.metadata")
    tests = [dict(t, metadata=meta) for t in tests]
    return test_list_tests(tests, field)


def mbpp_tests(obj: dict, field: str = "label") -> dict:
    """MBPP: assert lines (``test_list`` then ``challenge_test_list``) after ``test_setup_code``."""
    lines = []
    for key in ("test_list", "challenge_test_list"):
        part = _json(obj.get(key), f"{field}.{key}") if obj.get(key) is not None else []
        if not isinstance(part, list) or not all(isinstance(x, str) for x in part):
            raise LabelShapeError(f"{key} must be a list of assert lines", f"{field}.{key}")
        lines += part
    if not lines:
        raise LabelShapeError("test_list is empty: no test to run", f"{field}.test_list")
    out: dict[str, Any] = {"format": "assert", "test": "\n".join(lines)}
    imports = obj.get("test_imports") or []  # the sanitized split's imports the asserts need
    if not isinstance(imports, list) or not all(isinstance(x, str) for x in imports):
        raise LabelShapeError("test_imports must be a list of import lines", f"{field}.test_imports")
    if not isinstance(obj.get("test_setup_code") or "", str):
        raise LabelShapeError("test_setup_code must be Python code (a string)", f"{field}.test_setup_code")
    setup = "\n".join([*imports, obj.get("test_setup_code") or ""]).strip()
    if setup:
        out["setup"] = setup
    return out


def humaneval_tests(obj: dict, field: str = "label") -> dict:
    """HumanEval: ``check(entry_point)`` after the prompt's own definitions (helpers such as ``poly``)."""
    if not isinstance(obj.get("test"), str) or not isinstance(obj.get("entry_point"), str):
        raise LabelShapeError("HumanEval labels need test and entry_point strings", f"{field}.entry_point")
    out: dict[str, Any] = {"format": "assert", "test": obj["test"], "entry_point": obj["entry_point"]}
    if isinstance(obj.get("prompt"), str) and obj["prompt"].strip():
        out["setup"] = obj["prompt"]
    return out


# A tiny stand-in for the parts of pytest KodCode's tests use (raises, approx, mark.parametrize);
# it runs in the judge as trusted set-up code, never in the program's process.
PYTEST_SHIM = '''
class pytest:
    class _Raises:
        def __init__(self, exc, match=None):
            self.exc, self.match = exc, match
        def __enter__(self):
            return self
        def __exit__(self, et, ev, tb):
            if et is None:
                raise AssertionError(f"DID NOT RAISE {self.exc}")
            if not issubclass(et, self.exc):
                return False
            if self.match is not None:
                import re
                assert re.search(self.match, str(ev)), f"{str(ev)!r} does not match {self.match!r}"
            self.value = ev
            return True
    @staticmethod
    def raises(exc, *args, match=None, **kwargs):
        if args:
            with pytest._Raises(exc, match):
                args[0](*args[1:], **kwargs)
            return None
        return pytest._Raises(exc, match)
    class approx:
        def __init__(self, expected, rel=None, abs=None):
            self.expected, self.rel, self.abs = expected, rel, abs
        def _close(self, a, b):
            import math
            rel = 1e-6 if self.rel is None else self.rel
            ab = 1e-12 if self.abs is None else self.abs
            return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=ab)
        def __eq__(self, other):
            e = self.expected
            if isinstance(e, (list, tuple)):
                return isinstance(other, (list, tuple)) and len(other) == len(e) and all(self._close(a, b) for a, b in zip(other, e))
            if isinstance(e, dict):
                return isinstance(other, dict) and other.keys() == e.keys() and all(self._close(other[k], e[k]) for k in e)
            return self._close(other, e)
        __hash__ = None
    @staticmethod
    def fixture(fn=None, **kwargs):
        return fn if fn is not None else (lambda f: f)
    class mark:
        @staticmethod
        def parametrize(names, values, **kwargs):
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            def deco(f):
                runs = [dict(zip(names, v if len(names) > 1 else (v,))) for v in values]
                prev = getattr(f, "_verirl_params", None)
                f._verirl_params = [dict(a, **b) for a in runs for b in prev] if prev else runs
                return f
            return deco
'''

_RUNNER = '''
def _verirl_call(fn, given):
    import inspect, types
    kw = dict(given)
    for p in inspect.signature(fn).parameters:
        if p not in kw:  # a fixture defined in this test file
            v = _verirl_call(globals()[p], {{}})
            kw[p] = next(v) if isinstance(v, types.GeneratorType) else v
    return fn(**kw)
for _verirl_cls, _verirl_name in {tests!r}:
    _verirl_fn = getattr(globals()[_verirl_cls](), _verirl_name) if _verirl_cls else globals()[_verirl_name]
    for _verirl_kw in getattr(_verirl_fn, "_verirl_params", None) or [{{}}]:
        _verirl_call(_verirl_fn, _verirl_kw)
'''


def _decorated(node: ast.FunctionDef, word: str) -> bool:
    return any(word in ast.unparse(d) for d in node.decorator_list)


def kodcode_tests(obj: dict, field: str = "label") -> dict:
    """KodCode: a pytest file (``from solution import f``) run as assert tests: the imports from
    ``solution`` become the program's functions; every ``test*`` function and ``Test*`` class's
    ``test*`` method is called (parametrized ones once per parameter set, fixtures of the file
    passed by name); ``pytest.raises``/``approx``/``fixture``/``mark.parametrize`` from a stand-in.
    A test that needs one of pytest's own fixtures (``capsys``, ``tmp_path``) is a label we cannot run."""
    test = obj.get("test")
    if not isinstance(test, str) or not test.strip():
        raise LabelShapeError("KodCode labels need a test string", f"{field}.test")
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise LabelShapeError(f"the KodCode test does not parse: {exc}", f"{field}.test") from None
    lines = test.split("\n")
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        pad = " " * getattr(node, "col_offset", 0)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "solution":
            edits.append((node.lineno, node.end_lineno or node.lineno, pad + "pass"))
        elif isinstance(node, ast.Import) and any(a.name in ("pytest", "solution") for a in node.names):
            if any(a.name == "solution" for a in node.names):
                raise LabelShapeError("the KodCode test imports the solution module itself (`import solution`): "
                                      "only `from solution import ...` is supported", f"{field}.test")
            rest = [ast.unparse(a) for a in node.names if a.name != "pytest"]
            edits.append((node.lineno, node.end_lineno or node.lineno, pad + ("import " + ", ".join(rest) if rest else "pass")))
    for lo, hi, text in sorted(edits, reverse=True):
        lines[lo - 1 : hi] = [text] + [""] * (hi - lo)
    fixtures = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and _decorated(n, "fixture")}
    tests: list[tuple[str | None, str]] = []

    def collect(fn: ast.FunctionDef, cls: str | None) -> None:
        params = [a.arg for a in fn.args.args][1 if cls else 0:]
        missing = [p for p in params if p not in fixtures]
        if missing and not _decorated(fn, "parametrize"):
            raise LabelShapeError(f"{fn.name} takes pytest's own fixtures ({', '.join(missing)}), which verirl does not provide",
                                  f"{field}.test")
        tests.append((cls, fn.name))

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and not _decorated(node, "fixture"):
            collect(node, None)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for m in node.body:
                if isinstance(m, ast.FunctionDef) and m.name.startswith("test"):
                    collect(m, node.name)
    if not tests:
        raise LabelShapeError("the KodCode test defines no test function", f"{field}.test")
    info = _json(obj.get("test_info"), f"{field}.test_info") if obj.get("test_info") is not None else []
    out: dict[str, Any] = {"format": "assert", "test": "\n".join(lines) + "\n" + _RUNNER.format(tests=tests), "setup": PYTEST_SHIM}
    if isinstance(info, list) and info and isinstance(info[0], dict) and isinstance(info[0].get("function_name"), str):
        out["entry_point"] = info[0]["function_name"]
    return out


def dataset_tests(lab: Any, field: str = "label") -> dict | None:
    """verirl tests for a dataset label of a known shape; None when ``lab`` is no code label at all.

    Raises LabelShapeError for a code label that is malformed or of no known shape.
    """
    if looks_like_test_list(lab):
        return _harnessed(test_list_tests(lab, field))
    if not isinstance(lab, dict):
        return None
    if "input_output" in lab:
        io = _json(lab["input_output"], f"{field}.input_output")
        if not isinstance(io, dict):
            raise LabelShapeError("input_output must be an object with inputs and outputs", f"{field}.input_output")
        if lab.get("fn_name") and not io.get("fn_name"):
            io = {**io, "fn_name": lab["fn_name"]}
        return _harnessed(apps_tests(io, f"{field}.input_output"))
    if "inputs" in lab or "outputs" in lab:
        return _harnessed(apps_tests(lab, field))
    if any(k in lab for k in ("public_tests", "private_tests", "generated_tests")):
        return codecontests_tests(lab, field)
    if "public_test_cases" in lab or "private_test_cases" in lab:
        return _harnessed(lcb_row_tests(lab, field))
    if "test_list" in lab:
        return mbpp_tests(lab, field)
    if "test_info" in lab:
        return kodcode_tests(lab, field)
    if "test" in lab and "entry_point" in lab:
        return humaneval_tests(lab, field)
    if "test" in lab and isinstance(lab["test"], str) and "from solution import" in lab["test"]:
        return kodcode_tests(lab, field)
    seen = sorted(k for k in lab if k in CODE_FIELDS)
    if seen and not any(lab.get(k) is not None for k in ("answer", "ground_truth", "target", "problem_id")):
        raise LabelShapeError(
            f"a code label of no known shape (fields seen: {', '.join(sorted(map(str, lab)))}); known: verirl tests, "
            "APPS/TACO input_output or inputs/outputs(/fn_name), CodeContests public_tests/private_tests/generated_tests, "
            "DeepCoder/LiveCodeBench test lists, KodCode test+test_info, MBPP test_list, HumanEval prompt+test+entry_point",
            field,
        )
    return None
