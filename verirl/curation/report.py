"""What a person looks at after ``verirl filter``: ``removed.jsonl`` and ``report.html``.

Both are written next to the output, like its summary: ``OUTPUT.removed.jsonl``
(one line per dropped row: its id, row number, the reason it was dropped for
and all its flags) and ``OUTPUT.report.html``, one self-contained page (no
script, no external file: inline CSS and SVG) with the summary table, the
pass-rate histogram, contamination per benchmark and examples of duplicate
clusters with a word diff against the row each cluster keeps. Every value
taken from the data is HTML-escaped.
"""

from __future__ import annotations

import difflib
import html
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

MAX_CLUSTERS = 8
MAX_TEXT = 600


def removed_path(out_path: str) -> Path:
    return Path(str(out_path) + ".removed.jsonl")


def report_path(out_path: str) -> Path:
    return Path(str(out_path) + ".report.html")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_removed(out_path: str, ids: list[str], why: list[str | None], flags: list[list[str]]) -> Path:
    """One JSON line per dropped row (an empty file when none was dropped)."""
    lines = [json.dumps({"id": ids[i], "row": i, "reason": w, "flags": flags[i]}, ensure_ascii=False)
             for i, w in enumerate(why) if w is not None]
    path = removed_path(out_path)
    _atomic_write(path, "".join(line + "\n" for line in lines))
    return path


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def word_diff(a: str, b: str) -> str:
    """HTML of ``b`` against ``a``: words only in ``a`` struck out, words only in ``b`` marked."""
    wa, wb = a.split(), b.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(_e(" ".join(wa[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{_e(' '.join(wa[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{_e(' '.join(wb[j1:j2]))}</ins>")
    return " ".join(out)


def histogram_svg(values: list[float], bins: int = 10, width: int = 520, height: int = 180, label: str = "") -> str:
    """An inline SVG bar chart of values in [0, 1]."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    bw = (width - 40) / bins
    bars = []
    for k, c in enumerate(counts):
        h = (height - 40) * c / top
        x = 30 + k * bw
        y = height - 20 - h
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="#3b6ea8">'
                    f"<title>{k / bins:.1f}-{(k + 1) / bins:.1f}: {c}</title></rect>"
                    f'<text x="{x + bw / 2 - 2:.1f}" y="{y - 3:.1f}" font-size="10" text-anchor="middle">{c}</text>'
                    f'<text x="{x:.1f}" y="{height - 5}" font-size="10">{k / bins:.1f}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{_e(label)}"><line x1="28" y1="{height - 20}" x2="{width - 8}" y2="{height - 20}" '
            f'stroke="#333"/>{"".join(bars)}</svg>')


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222;background:#fff}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eef3f8}td.n{text-align:right}.muted{color:#777}
del{background:#fbd3d3;text-decoration:line-through}ins{background:#cdeccd;text-decoration:none}
.cluster{border:1px solid #ddd;border-radius:4px;padding:.5em .8em;margin:.6em 0;background:#fafafa}
"""


def write_report(out_path: str, summary: dict[str, Any], ids: list[str], texts: list | None,
                 new: dict[str, list], flags: list[list[str]]) -> Path:
    parts = [f"<h1>verirl filter: {_e(Path(summary['input']).name)}</h1>",
             f"<p class=muted>output <code>{_e(summary['output'])}</code>, engine {_e(summary.get('engine', 'local'))}, "
             f"{summary['seconds']} s</p>", "<h2>Summary</h2><table>"]
    for k in ("rows", "kept", "dropped"):
        parts.append(f"<tr><th>{k}</th><td class=n>{summary[k]}</td></tr>")
    parts.append("</table><table><tr><th>flag</th><th>rows flagged</th><th>dropped for it</th></tr>")
    for f, c in summary["flags"].items():
        parts.append(f"<tr><td>{_e(f)}</td><td class=n>{c}</td><td class=n>{summary['reasons'].get(f, 0)}</td></tr>")
    if "keep" in summary["reasons"]:
        parts.append(f"<tr><td>--keep</td><td class=n></td><td class=n>{summary['reasons']['keep']}</td></tr>")
    parts.append("</table>")

    parts.append("<h2>Difficulty</h2>")
    rates = [r for r in new.get("pass_rate", []) if r is not None]
    if rates:
        buckets = Counter(new.get("difficulty_bucket", []))
        parts.append(f"<p>pass rate of {len(rates)} problems with attempts</p>")
        parts.append(histogram_svg(rates, label="pass-rate histogram"))
        parts.append("<table><tr>" + "".join(f"<th>{_e(b)}</th>" for b in buckets) + "</tr><tr>"
                     + "".join(f"<td class=n>{c}</td>" for c in buckets.values()) + "</tr></table>")
    else:
        parts.append("<p class=muted>no pass rates: run with <code>--difficulty</code> (a rollouts column)</p>")

    parts.append("<h2>Contamination per benchmark</h2>")
    by_bench = summary.get("contaminated_by_benchmark")
    if by_bench is not None:
        rules: dict[str, Counter[str]] = {}
        for f in new.get("contamination", []):
            for x in f:
                rules.setdefault(x["benchmark"], Counter())[x["rule"]] += 1
        parts.append("<table><tr><th>benchmark</th><th>rows flagged</th><th>by rule</th></tr>")
        for b in summary["options"]["decontaminate"]:
            name = Path(b).stem if b not in by_bench and Path(b).stem in by_bench else b
            r = ", ".join(f"{_e(k)} {v}" for k, v in sorted(rules.get(name, Counter()).items()))
            parts.append(f"<tr><td>{_e(name)}</td><td class=n>{by_bench.get(name, 0)}</td><td>{r}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class=muted>not checked: run with <code>--decontaminate BENCH</code></p>")

    parts.append("<h2>Duplicate clusters</h2>")
    if "cluster_id" in new and texts is not None:
        index = {x: i for i, x in reversed(list(enumerate(ids)))}
        shown = 0
        for i, of in enumerate(new["near_duplicate_of"]):
            if of is None or shown >= MAX_CLUSTERS:
                continue
            j = index.get(of)
            a = str(texts[j])[:MAX_TEXT] if j is not None else "(a row of the --against set)"
            b = str(texts[i])[:MAX_TEXT]
            parts.append(f"<div class=cluster><b>{_e(ids[i])}</b> near duplicate of <b>{_e(of)}</b> "
                         f"(similarity {new['near_similarity'][i]})<br>{word_diff(a, b)}</div>")
            shown += 1
        exact = sum(1 for d in new["duplicate_of"] if d is not None)
        conflicts = sum(1 for c in new["conflicting_answer"] if c)
        parts.append(f"<p>{exact} exact duplicates, {conflicts} of them with an answer that conflicts with the "
                     f"first copy's; {summary['flags'].get('near_duplicate', 0)} near duplicates"
                     f"{'' if shown else ' (no example)'}.</p>")
    else:
        parts.append("<p class=muted>not checked: run with <code>--dedup</code></p>")
    page = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>verirl filter report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    path = report_path(out_path)
    _atomic_write(path, page)
    return path
