"""What a person looks at: removed.jsonl and report.html beside every output, the report in a real browser."""

from __future__ import annotations

import json
import subprocess

from tests.procs import BIN, clean_env
from tests.test_observability import _chromium, _png_pixels


def _cli(args, cwd):
    r = subprocess.run([str(BIN / "verirl"), *args], cwd=cwd, env=clean_env(VERIRL_DATA_DIR=str(cwd / "data")),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


def _rows() -> list[dict]:
    rows = []
    for i in range(40):
        rollouts = [k < i % 9 for k in range(8)]  # pass rates 0/8 .. 8/8
        rows.append({"id": f"p{i}", "problem": f"Problem {i}: a bag holds {i + 3} red and {2 * i + 1} blue marbles; "
                     "two are drawn without replacement. What is the chance both are red?",
                     "answer": str(i), "rollouts": rollouts})
    rows.append({"id": "dup", "problem": rows[3]["problem"].replace(" ", "  "), "answer": "3", "rollouts": [True]})
    rows.append({"id": "near", "problem": rows[5]["problem"].replace("two are drawn", "two get drawn"),
                 "answer": "5", "rollouts": [False]})
    rows.append({"id": "leak", "problem": "A frog jumps along the number line starting at zero and each jump is one "
                 "or two units long. In how many ways can it reach ten?", "answer": "89", "rollouts": [True, False]})
    return rows


def test_every_output_has_removed_and_report(tmp_path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    runs = {"a.jsonl": ["--dedup"], "b.parquet": ["--difficulty"], "c": ["--keep", "answer != '0'"],
            "d.csv": ["--dedup", "--drop"]}
    for out, args in runs.items():
        _cli(["filter", "in.jsonl", "--out", out, *args, "--quiet", "--num-proc", "1"], tmp_path)
        assert (tmp_path / f"{out}.report.html").read_text().startswith("<!doctype html>"), out
        removed = (tmp_path / f"{out}.removed.jsonl").read_text().splitlines()
        summary = json.loads((tmp_path / f"{out}.summary.json").read_text())
        assert len(removed) == summary["dropped"], out
    assert [json.loads(x)["id"] for x in (tmp_path / "c.removed.jsonl").read_text().splitlines()] == ["p0"]
    assert {json.loads(x)["id"] for x in (tmp_path / "d.csv.removed.jsonl").read_text().splitlines()} == {"dup", "near"}


def test_report_renders_in_headless_chromium(tmp_path) -> None:
    exe = _chromium()
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    frog = "A frog jumps along the number line starting at zero and each jump is one or two units long."
    (tmp_path / "bench.jsonl").write_text(json.dumps({"id": "q7", "problem": frog}) + "\n")
    _cli(["benchmarks", "add", "frog", "bench.jsonl"], tmp_path)
    _cli(["filter", "in.jsonl", "--out", "out.jsonl", "--dedup", "--decontaminate", "frog", "--difficulty", "--drop",
          "--quiet", "--num-proc", "1"], tmp_path)
    report = tmp_path / "out.jsonl.report.html"
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}"]
    dom = subprocess.run([*base, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<svg" in dom.stdout and "frog" in dom.stdout and "<del>" in dom.stdout and "<ins>" in dom.stdout
    shot = tmp_path / "report.png"
    p = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1000,1400", "--hide-scrollbars", report.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
    w, bpp, rows = _png_pixels(shot.read_bytes())
    colours: dict[bytes, int] = {}
    for row in rows[::2]:
        for x in range(0, w * bpp, bpp * 2):
            px = row[x : x + 3]
            colours[px] = colours.get(px, 0) + 1
    total = sum(colours.values())
    white = sum(n for px, n in colours.items() if min(px) > 245)

    def near(rgb: tuple[int, int, int]) -> int:
        return sum(n for px, n in colours.items() if all(abs(px[k] - rgb[k]) < 14 for k in range(3)))

    print(f"\nreport screenshot: {len(colours)} colours, {1 - white / total:.1%} non-white")
    assert len(colours) > 20 and white / total < 0.97, "the screenshot is blank"
    assert near((0x3B, 0x6E, 0xA8)) > 50, "the pass-rate histogram did not render"
    assert near((0xFB, 0xD3, 0xD3)) + near((0xCD, 0xEC, 0xCD)) > 10, "the cluster diff did not render"
    assert near((0xEE, 0xF3, 0xF8)) > 50, "the summary table did not render"
