"""Regenerate ``outside_math.jsonl`` from the test files of other projects.

Reads huggingface/Math-Verify ``tests/*.py`` (every ``@pytest.mark.parametrize`` table with a
gold, a prediction and an expected result, plus the arguments the test hands to math-verify) with
``ast``; nothing is imported or run. Qwen2.5-Math's ``evaluation/grader.py`` keeps its cases as
comments in ``_test_math_equal``; those rows are written out by hand below, with the verdict its
authors meant. Usage: ``python make_outside_corpus.py MATH_VERIFY_TESTS_DIR MV_COMMIT > out.jsonl``
(the reasons for rows where verirl differs are kept in ``test_math_outside.py``, not here).
"""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

QWEN = [
    # (gold, pred, expected) from Qwen2.5-Math evaluation/grader.py _test_math_equal (math_equal(pred, gt))
    ("\\frac{1}{12}", "0.0833333333333333", 1),
    ("(1,\\frac{9}{2})", "(1,4.5)", 1),
    ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", 1),
    ("\\tan^2(y)+1", "\\sec^2(y)", 1),
    ("(\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\\\\\end{pmatrix})",
     "\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}", 1),
    ("(\\begin{pmatrix}\\frac{1}{3\\sqrt[3]{x}^2}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\\\\\end{pmatrix})",
     "\\begin{pmatrix}\\frac{1}{3x^{2/3}}&0&0\\\\0&1&0\\\\-\\sin(x)&0&0\\end{pmatrix}", 1),
    ("-\\frac{2(x^2+6)}{9(x^2-2)\\sqrt[3]{x^2-2}^2}",
     "-\\frac{8x^2}{9(x^2-2)^{5/3}}+\\frac{2}{3(x^2-2)^{2/3}}", 1),
    ("34x+45y-20z+100=0", "-34x-45y+20z-100=0", 1),
    ("33.3", "\\frac{100}{3}", 1),
    ("(\\begin{pmatrix}0.29\\\\0.196\\\\-0.186\\\\\\end{pmatrix})",
     "\\begin{pmatrix}0.290243531202435\\\\0.196008371385084\\\\-0.186381278538813\\end{pmatrix}", 1),
    ("\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}", "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{2\\sqrt{33}+15}", 1),
    ("(a+5)(b+2)", "(+5)(b+2)", 0),
    ("2", "\\frac{1+\\sqrt{5}}{2}", 0),
    ("4", "\\frac{34}{16}+\\frac{\\sqrt{1358}}{16}", 0),
    ("1\\\\sqrt{19}", "1", 0),
    ("(\\frac{3}{5},\\frac{8}{3}]", "(0.6,2.6667]", 1),
    ("x+2n+1", "x+1", 0),
]


def _kw(call: ast.Call) -> dict:
    out = {}
    for k in call.keywords:
        try:
            out[k.arg] = ast.literal_eval(k.value)
        except ValueError:
            out[k.arg] = ("param", k.value.id) if isinstance(k.value, ast.Name) else None
    return out


def math_verify_rows(tests_dir: Path, commit: str):
    for path in sorted(tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                    continue
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                if "gold" not in names or "pred" not in names:
                    continue
                call = next((n for n in ast.walk(fn) if isinstance(n, ast.Call)
                             and getattr(n.func, "id", "") in ("compare_strings", "verify")), None)
                kw = _kw(call) if call is not None and call.func.id == "compare_strings" else {}
                for elt in dec.args[1].elts:
                    try:
                        vals = dict(zip(names, ast.literal_eval(elt), strict=True))
                    except ValueError:  # test_float_precision: f"{math.sqrt(17):.15f}", spelled out
                        src = ast.unparse(elt)
                        assert "math.sqrt(17)" in src, src
                        vals = dict(zip(names, (f"{math.sqrt(17):.15f}", "$\\sqrt{17}$", 1), strict=True))
                    args = {"match_types": kw.get("match_types", ["latex", "expr"]), "precision": 6,
                            "strict": True, "allow_set_relation_comp": False}
                    if call is not None and call.func.id == "verify":
                        args["plain_parse"] = True  # verify(parse(gold), parse(pred)), default configs
                    for k in ("precision", "strict", "allow_set_relation_comp"):
                        v = kw.get(k)
                        if isinstance(v, tuple):
                            args[k] = vals[v[1]]
                        elif v is not None:
                            args[k] = v
                    expected = vals.get("expected", vals.get("result"))
                    yield {"repo": "huggingface/Math-Verify", "commit": commit, "file": f"tests/{path.name}",
                           "test": fn.name, "line": elt.lineno, "gold": vals["gold"], "pred": vals["pred"],
                           "expected": int(expected), "mv_args": args}


def main() -> None:
    rows = list(math_verify_rows(Path(sys.argv[1]), sys.argv[2]))
    for i, (g, p, e) in enumerate(QWEN):
        rows.append({"repo": "QwenLM/Qwen2.5-Math", "commit": "a45202b", "file": "evaluation/grader.py",
                     "test": "_test_math_equal", "line": i, "gold": g, "pred": p, "expected": e,
                     "mv_args": {"match_types": ["latex", "expr"], "precision": 6, "strict": True,
                                 "allow_set_relation_comp": False}})
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
