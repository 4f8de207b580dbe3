"""Difficulty counters of a registered problem: one verdict's increments, and the
public statistics derived from a stored counter row (shared by both stores)."""

from __future__ import annotations

from typing import Any

from verirl.curation import primitives as C

DECIDED = ("correct", "incorrect", "no_answer")


def delta(verdict: str) -> tuple[int, int, int, int, float | None]:
    """(attempts, correct, timeouts, errors, outcome for the EWMA) of one verdict."""
    if verdict == "correct":
        return 1, 1, 0, 0, 1.0
    if verdict in DECIDED:
        return 1, 0, 0, 0, 0.0
    if verdict == "timeout":
        return 0, 0, 1, 0, None
    return 0, 0, 0, 1, None


def stats_doc(row: dict | None) -> dict[str, Any]:
    row = row or {}
    d = C.difficulty(
        int(row.get("attempts") or 0),
        int(row.get("correct") or 0),
        int(row.get("timeouts") or 0),
        int(row.get("errors") or 0),
        float(row["ewma"]) if row.get("ewma") not in (None, "", b"") else None,
        float(row["last_seen"]) if row.get("last_seen") not in (None, "", b"") else None,
    )
    d["difficulty"] = round(1.0 - d["smoothed_pass_rate"], 6)
    return d
