"""Small helpers shared by tests (data shaping, HTTP posting)."""

from __future__ import annotations

import httpx

# Rows of math_cot_100.jsonl where the benchmark authors' grader is wrong and
# verirl is right (checked by hand): idx 72, completion 7 answers \boxed{10000}
# to a gold of 10{,}000 and was graded False.
KNOWN_LABEL_ERRORS = {(72, 7)}


def math_items(rows: list[dict], n: int) -> tuple[list[dict], list[bool]]:
    """``n`` items cycling through the 800 real completions, with the expected verdicts."""
    flat = []
    for r in rows:
        for k, (c, s) in enumerate(zip(r["code"], r["score"], strict=True)):
            expected = (not s) if (r["idx"], k) in KNOWN_LABEL_ERRORS else bool(s)
            flat.append(({"id": f"{r['idx']}-{k}", "task": "math", "completion": c, "answer": r["gt"], "group": str(r["idx"])}, expected))
    out = [flat[i % len(flat)] for i in range(n)]
    return [dict(it, id=f"{it['id']}#{i}") for i, (it, _) in enumerate(out)], [e for _, e in out]


def post(url: str, path: str, body, timeout: float = 300, **kw) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=timeout, **kw)


def need_language(name: str) -> None:
    """Skip (with the reason) when a language's toolchain is not installed; fail instead in CI.

    ``.ci/run`` and the Dockerfile install every language in sandbox/policy.py and set
    VERIRL_REQUIRE_LANGUAGES, so a missing toolchain there is a failure, never a skip.
    """
    import os

    import pytest

    from sandbox import LANGUAGES, available_languages

    if name in available_languages():
        return
    why = f"{name} is not installed here (needs {', '.join(LANGUAGES[name].needs)}; .ci/run and the Dockerfile install it)"
    if os.environ.get("VERIRL_REQUIRE_LANGUAGES"):
        pytest.fail(why + " and VERIRL_REQUIRE_LANGUAGES is set")
    pytest.skip(why)
