"""Prometheus metrics at /metrics and the status page at / (server-rendered HTML, no build step)."""

from __future__ import annotations

import html
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from verirl import __version__

from ..deps import DispatcherDep
from ..observe import RECORDER

router = APIRouter(tags=["status"])

_COLORS = {"correct": "#2e7d32", "incorrect": "#c62828", "no_answer": "#ef6c00", "timeout": "#6a1b9a", "error": "#37474f"}
_BUCKETS = ("unknown", "unsolved", "hard", "medium", "easy", "solved")


async def _workers(dispatcher) -> tuple[int, int]:
    info = await dispatcher.info()
    ws = info.get("workers") or []
    if dispatcher.mode == "embedded" and ws:
        return int(ws[0].get("alive", 0)), int(ws[0].get("size", 0))
    return len(ws), len(ws)


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics(dispatcher: DispatcherDep) -> Response:
    """Prometheus text exposition (last-known gauges, marked stale, when the store is down)."""

    async def read() -> tuple[int, int]:
        return await dispatcher.queue_depth(), (await _workers(dispatcher))[0]

    await RECORDER.refresh_gauges(read)
    return Response(RECORDER.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _bar_svg(history: list[dict]) -> str:
    w, h = 720, 120
    peak = max((x["items"] for x in history), default=0) or 1
    bw = w / len(history)
    bars = []
    for i, x in enumerate(history):
        bh = (x["items"] / peak) * (h - 10)
        bars.append(f'<rect x="{i * bw:.1f}" y="{h - bh:.1f}" width="{max(1.0, bw - 1):.1f}" height="{bh:.1f}" fill="#1565c0"><title>{x["items"]} items</title></rect>')
    return f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="items per 10 s">{"".join(bars)}</svg>'


def _hbars(counts: dict[str, int], order: tuple[str, ...], colors: dict[str, str]) -> str:
    total = sum(counts.values()) or 1
    rows = []
    for k in order:
        v = counts.get(k, 0)
        pct = 100 * v / total
        rows.append(
            f'<tr><td>{html.escape(k)}</td><td class="num">{v:,}</td>'
            f'<td><div class="bar" style="width:{pct * 3:.0f}px;background:{colors.get(k, "#1565c0")}"></div></td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


@router.get("/", operation_id="status_page", response_class=HTMLResponse, include_in_schema=False)
async def status_page(request: Request, dispatcher: DispatcherDep) -> HTMLResponse:
    hist = RECORDER.history()
    last = {n: sum(x["items"] for x in hist[-(n * 6):]) for n in (1, 5, 15)}
    verdicts: dict[str, int] = {}
    by_task: dict[str, dict[str, int]] = {}
    for x in hist:
        for k, v in x["verdicts"].items():
            verdicts[k] = verdicts.get(k, 0) + v
        for (task, verdict), v in x.get("tasks", {}).items():
            row = by_task.setdefault(task, {})
            row[verdict] = row.get(verdict, 0) + v
    task_rows = "".join(
        f'<tr><td>{html.escape(t)}</td>' + "".join(f'<td class="num">{row.get(v, 0):,}</td>' for v in _COLORS) + "</tr>"
        for t, row in sorted(by_task.items())
    ) or f'<tr><td colspan="{len(_COLORS) + 1}">none</td></tr>'
    task_head = "<tr><th>task</th>" + "".join(f"<th>{html.escape(v)}</th>" for v in _COLORS) + "</tr>"
    alive, size = await _workers(dispatcher)
    depth = await dispatcher.queue_depth()
    try:
        diff = await request.app.state.registry.buckets()
    except Exception as exc:  # the page still renders without the registry
        diff = {"problems": 0, "sampled": 0, "buckets": {}, "error": type(exc).__name__}
    errors = "".join(
        f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(e['t']))}</td><td>{html.escape(str(e['request_id'] or '-'))}</td>"
        f"<td>{html.escape(str(e['id'] or '-'))}</td><td>{html.escape(e['verdict'])}</td><td>{html.escape(e['message'])}</td></tr>"
        for e in reversed(RECORDER.errors)
    ) or '<tr><td colspan="5">none</td></tr>'
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>verirl status</title>
<style>
body{{font-family:system-ui,sans-serif;margin:24px;color:#212121;background:#fafafa}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:16px;margin:20px 0 8px}}
.cards{{display:flex;gap:12px;flex-wrap:wrap}}
.card{{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}}
.card b{{display:block;font-size:22px}} table{{border-collapse:collapse}} td{{padding:2px 8px}}
.num{{text-align:right}} .bar{{height:12px}} .muted{{color:#757575}}
</style></head><body>
<h1>verirl {__version__}</h1>
<div class="muted">{dispatcher.mode} mode · up {int(time.time() - RECORDER.started)} s · refreshes every 5 s</div>
<div class="cards">
<div class="card" id="items-1m"><b>{last[1]:,}</b>items, last minute</div>
<div class="card" id="items-15m"><b>{last[15]:,}</b>items, last 15 min</div>
<div class="card" id="throughput"><b>{last[1] / 60:,.1f}/s</b>throughput (1 min)</div>
<div class="card" id="queue"><b>{depth:,}</b>queue depth</div>
<div class="card" id="workers"><b>{alive}/{size}</b>{"workers" if dispatcher.mode == "distributed" else "verifier processes"} alive</div>
<div class="card" id="problems"><b>{diff.get("problems", 0):,}</b>registered problems</div>
</div>
<h2>Items per 10 s, last 15 minutes</h2>{_bar_svg(hist)}
<h2>Verdicts, last 15 minutes</h2><div id="verdicts">{_hbars(verdicts, tuple(_COLORS), _COLORS)}</div>
<h2>Verdicts by task, last 15 minutes</h2><table id="tasks">{task_head}{task_rows}</table>
<h2>Difficulty of registered problems{"" if diff.get("sampled") == diff.get("problems") else f" (latest {diff.get('sampled'):,})"}</h2>
<div id="difficulty">{_hbars(diff.get("buckets", {}), _BUCKETS, {})}</div>
<h2>Recent errors</h2>
<table id="errors"><tr><th>time</th><th>request</th><th>item</th><th>verdict</th><th>message</th></tr>{errors}</table>
</body></html>"""
    return HTMLResponse(body)
