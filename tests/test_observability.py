"""Metrics, request ids into the workers, readiness, and the status page in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
import uuid
import zlib

import httpx
import pytest

from tests import procs
from tests.helpers import post


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}" if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_what_was_served(embedded_server) -> None:
    before = httpx.get(embedded_server + "/metrics").text
    items = [
        {"completion": "\\boxed{2}", "answer": "2"},
        {"completion": "\\boxed{3}", "answer": "2"},
        {"completion": "```python\nprint(int(input())*2)\n```", "task": "code",
         "tests": {"format": "stdio", "cases": [{"input": "2\n", "output": "4\n"}, {"input": "3\n", "output": "6\n"}]}},
    ]
    assert post(embedded_server, "/v1/score", {"items": items}).status_code == 200
    after = httpx.get(embedded_server + "/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    m = after.text
    for task, verdict, n in (("math", "correct", 1), ("math", "incorrect", 1), ("code", "correct", 1)):
        assert _metric(m, "verirl_items_total", task=task, verdict=verdict) - _metric(before, "verirl_items_total", task=task, verdict=verdict) == n
    assert _metric(m, "verirl_sandbox_runs_total", verdict="accepted") - _metric(before, "verirl_sandbox_runs_total", verdict="accepted") == 2
    assert _metric(m, "verirl_http_request_seconds_count", method="POST", route="/v1/score", status="200") >= 1
    assert "verirl_verify_seconds_bucket" in m and 'layer="' in m
    assert _metric(m, "verirl_workers") == 2 and _metric(m, "verirl_queue_depth") == 0


def test_request_id_follows_items_into_the_workers(distributed) -> None:
    rid = "trace-" + uuid.uuid4().hex[:12]
    r = httpx.post(distributed["url"] + "/v1/score", json={"items": [{"completion": "\\boxed{1}", "answer": "1"}] * 3},
                   headers={"x-request-id": rid}, timeout=60)
    assert r.status_code == 200 and r.headers["x-request-id"] == rid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        worker_logs = "".join(w.log_text() for w in distributed["workers"])
        if rid in worker_logs:
            break
        time.sleep(0.2)
    import json

    lines = [json.loads(line) for line in worker_logs.splitlines() if rid in line]
    assert lines and all(rec["request_id"] == rid for rec in lines)
    assert any("scored chunk" in rec["msg"] for rec in lines)
    api = [json.loads(line) for line in distributed["server"].log_text().splitlines() if rid in line]
    assert api and api[0]["request_id"] == rid


def test_readyz_is_false_without_workers(tmp_path) -> None:
    # Its own Redis: the module's `distributed` workers announce themselves in the shared test db.
    redis, rurl = procs.start_redis(tmp_path)
    server, url = procs.start_server(tmp_path, redis_url=rurl)
    try:
        r = httpx.get(url + "/readyz")
        assert r.status_code == 503 and r.json()["ready"] is False
        w = procs.start_worker(tmp_path, rurl, 1, name="late")
        try:
            procs.wait_http(url + "/readyz", server, timeout=60)
        finally:
            w.stop()
    finally:
        server.stop()
        redis.stop()


# --------------------------------------------------------------------------- status page

def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixel bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, bpp, rows


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("VERIRL_REQUIRE_SHARED_DATA"):  # CI: .ci/run installs it
            pytest.fail("chromium is missing in CI")
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return exe


def test_status_page_renders_with_data_in_headless_chromium(tmp_path) -> None:
    exe = _chromium()
    server, url = procs.start_server(tmp_path, workers=2)
    try:
        post(url, "/v1/problems", {"problems": [{"id": f"s{i}", "text": f"Status problem {i}: what is {i} + {i}?", "answer": str(2 * i)} for i in range(1, 7)]})
        items = [{"problem_id": f"s{i}", "completion": f"\\boxed{{{2 * i if k % 2 else 0}}}"} for i in range(1, 7) for k in range(4)]
        items.append({"id": "slow-one", "completion": "\\boxed{(x+1)^{3000}}", "answer": "(x+2)^{3000}", "options": {"timeout_s": 0.5}})
        r = httpx.post(url + "/v1/score", json={"items": items}, headers={"x-request-id": "status-page-check"}, timeout=60)
        assert r.status_code == 200
        base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}"]
        dom = subprocess.run([*base, "--dump-dom", url + "/"], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-2000:]
        page = dom.stdout
        assert "verirl" in page and "registered problems" in page
        assert '<div class="card" id="items-15m"><b>25</b>' in page
        assert "status-page-check" in page and "slow-one" in page  # the timeout is in recent errors
        diff = page[page.index('id="difficulty"'):page.index("Recent errors")]
        assert re.search(r'<td>medium</td><td class="num">6</td>', diff), diff  # 2 of 4 right for each of the 6
        shot = tmp_path / "status.png"
        p = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1000,900", "--hide-scrollbars", url + "/"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
        w, bpp, rows = _png_pixels(shot.read_bytes())
        colours = {}
        for row in rows[::3]:
            for x in range(0, w * bpp, bpp * 3):
                px = row[x : x + 3]
                colours[px] = colours.get(px, 0) + 1
        blue = sum(n for px, n in colours.items() if abs(px[0] - 0x15) < 12 and abs(px[1] - 0x65) < 12 and abs(px[2] - 0xC0) < 12)
        green = sum(n for px, n in colours.items() if abs(px[0] - 0x2E) < 12 and abs(px[1] - 0x7D) < 12 and abs(px[2] - 0x32) < 12)
        assert len(colours) > 20, "the screenshot is blank"
        assert blue > 0, "the throughput chart (and the difficulty bars) did not render"
        assert green > 0, "the verdict bars did not render"
    finally:
        server.stop()
