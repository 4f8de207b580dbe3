"""The ``--keep`` filter language: known Python-sandbox escapes are refused, the language works.

The escape strings are the ones used against ``eval`` with restricted builtins
(``__subclasses__`` walks, frame and generator walks, format-string gadgets,
lambdas, comprehensions, huge powers, deep nesting).
"""

from __future__ import annotations

import pytest

from verirl.curation.keep_expr import KeepError, parse_keep

ESCAPES = [
    "().__class__.__base__.__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__['__import__']('os').system('touch /tmp/pwned')",
    "__import__('os').system('id')",
    "open('/etc/passwd').read()",
    "(lambda: 1)()",
    "lambda x: x",
    "[x for x in range(3)]",
    "{x: 1 for x in 'ab'}",
    "any(x for x in [1])",
    "verified.__class__",
    "text.__len__() > 3",
    "row['__class__']",
    "text[0] == 'a'",
    "(1).__class__.__mro__[-1]",
    "9**9**9",
    "2 ** 100000 > 1",
    "'a' * 10**9",
    "len(text) > 3",
    "(x := 1)",
    "f'{verified}'",
    "1 if verified else 0",
    "__builtins__",
    "_private == 1",
    "verified is True",
    "gi_frame == 1 or (lambda: 0).__code__",
    "*a",
    "{'a': 1}",
    "{1, 2}",
    "b'bytes' == text",
    "1j == 1",
    "...",
    "[" * 200 + "]" * 200,
    "(" * 5000 + "1" + ")" * 5000,
    "not " * 300 + "verified",
    " or ".join(["verified"] * 1000),
    "verified == " + "1" * 5000,
    "x == '" + "a" * 3000 + "'",
    "",
    "   ",
    "verified and",
    "import os",
    "verified; import os",
]


@pytest.mark.parametrize("expr", ESCAPES, ids=lambda e: e[:40])
def test_escapes_are_refused_at_parse_time(expr: str) -> None:
    with pytest.raises(KeepError):
        parse_keep(expr)


@pytest.mark.parametrize(
    ("expr", "row", "kept"),
    [
        ("verified and not contaminated", {"verified": True, "contaminated": False}, True),
        ("verified and not contaminated", {"verified": True, "contaminated": True}, False),
        ("pass_rate is not None and pass_rate < 1", {"pass_rate": 0.5}, True),
        ("pass_rate is not None and pass_rate < 1", {"pass_rate": None}, False),
        ("pass_rate < 1", {"pass_rate": None}, False),  # unordered: false, not an error
        ("0.2 <= pass_rate <= 0.8", {"pass_rate": 0.9}, False),
        ("0.2 <= pass_rate <= 0.8", {"pass_rate": 0.5}, True),
        ("difficulty_bucket in ['medium', 'hard']", {"difficulty_bucket": "hard"}, True),
        ("difficulty_bucket not in ('medium', 'hard')", {"difficulty_bucket": "hard"}, False),
        ("source != 'synthetic' or attempts > -1", {"source": "synthetic", "attempts": 0}, True),
        ("near_duplicate_of is None", {}, True),  # a missing column is None
        ("'geometry' in tags", {"tags": ["algebra", "geometry"]}, True),
        ("verified", {"verified": 0}, False),
    ],
)
def test_the_language(expr: str, row: dict, kept: bool) -> None:
    assert parse_keep(expr)(row) is kept


def test_columns_are_reported() -> None:
    assert parse_keep("a and b < 3 or c is None").columns == {"a", "b", "c"}
