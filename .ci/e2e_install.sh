#!/usr/bin/env bash
# The default install, end to end: a clean venv with exactly what `make run` installs (the server
# extra, not the dev extras), the API started by `make run`, then a filter job over HTTP and
# `verirl benchmarks` / `verirl filter` on the CLI, as the README shows them. Catches a dependency
# that only the dev extras bring (issue 13: /v1/filter and `verirl filter` without `datasets`).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mktemp -d /tmp/verirl-e2e.XXXXXX)"
VENV="$WORK/venv"
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 -- "-$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
t0=$(date +%s)

# 1. The venv `make run` builds, by the same make rule, in a fresh directory.
make --no-print-directory VENV="$VENV" "$VENV/.server-installed"
if "$VENV/bin/python" -c "import pytest" 2>/dev/null; then
    echo "e2e: the server venv has pytest: not the clean install make run builds" >&2
    exit 1
fi
echo "e2e: venv ready in $(( $(date +%s) - t0 )) s"

# 2. `make run` on a free port (the Quickstart's VERIRL_PORT=... make run), embedded mode.
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$WORK/run"
env -u REDIS_URL VERIRL_PORT="$PORT" VERIRL_WORKERS=1 VERIRL_DATA_DIR="$WORK/run/data" \
    setsid make --no-print-directory -C "$REPO" VENV="$VENV" run >"$WORK/run/serve.log" 2>&1 &
SERVER_PID=$!

cd "$WORK"
cat > bench.jsonl <<'EOF'
{"id": "q7", "problem": "A frog jumps along the number line starting at zero and each jump is one or two units long."}
EOF
cat > data.jsonl <<'EOF'
{"id": "a", "problem": "What is 2+2?", "answer": "4", "completion": "so \\boxed{4}", "rollouts": ["\\boxed{4}", "\\boxed{5}", "\\boxed{4}", "\\boxed{4}"]}
{"id": "b", "problem": "What is  2+2?", "answer": "4", "completion": "\\boxed{5}", "rollouts": ["correct", "incorrect", "incorrect", "incorrect"]}
{"id": "c", "problem": "A frog jumps along the number line starting at zero and each jump is one or two units long.", "answer": "7", "completion": "\\boxed{7}", "rollouts": ["correct", "correct", "correct", "correct"]}
EOF

# 3. An HTTP filter job against the server `make run` started.
VERIRL_URL="http://127.0.0.1:$PORT" "$VENV/bin/python" - <<'EOF'
import json, os, sys, time
import httpx

url = os.environ["VERIRL_URL"]
deadline = time.monotonic() + 180
while True:
    try:
        if httpx.get(url + "/healthz", timeout=2).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    if time.monotonic() > deadline:
        sys.exit("e2e: the server did not come up")
    time.sleep(0.2)
bench = [json.loads(x) for x in open("bench.jsonl")]
r = httpx.post(url + "/v1/benchmarks", json={"name": "frog", "items": [{"id": b["id"], "text": b["problem"]} for b in bench]}, timeout=60)
assert r.status_code == 200, r.text
r = httpx.post(url + "/v1/filter", params={"dedup": True, "verify": True, "difficulty": True, "decontaminate": "frog"},
               content=open("data.jsonl", "rb").read(), timeout=60)
assert r.status_code == 202, r.text
job = r.json()["job_id"]
while (st := httpx.get(f"{url}/v1/filter/{job}", timeout=10).json())["status"] not in ("done", "failed"):
    assert time.monotonic() < deadline + 120, st
    time.sleep(0.2)
assert st["status"] == "done", st
assert st["progress"] == {"rows_done": 3, "rows_total": 3}, st
out = [json.loads(x) for x in httpx.get(f"{url}/v1/filter/{job}/result", timeout=30).text.splitlines()]
assert [o["duplicate_of"] for o in out] == [None, "a", None], out
assert [o["verdict"] for o in out] == ["correct", "incorrect", "correct"], out
assert [o["contaminated"] for o in out] == [False, False, True], out
assert [o["pass_rate"] for o in out] == [0.75, 0.25, 1.0], out
print("e2e: HTTP filter job ok", st["summary"]["flags"])
EOF

# 4. The CLI as the README runs it: `. .venv/bin/activate`, then `verirl ...`.
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export VERIRL_DATA_DIR="$WORK/cli-data"
verirl benchmarks add frog bench.jsonl --field problem
verirl benchmarks list | grep -q '^frog'
verirl filter data.jsonl --out clean.parquet --dedup --decontaminate frog --verify --difficulty \
    --keep 'not contaminated and duplicate_of is None and 0 < pass_rate < 1' --quiet
python - <<'EOF'
import json
import pyarrow.parquet as pq

t = pq.read_table("clean.parquet")
assert t.column("id").to_pylist() == ["a"], t.to_pylist()
s = json.load(open("clean.parquet.summary.json"))
assert (s["rows"], s["kept"], s["dropped"]) == (3, 1, 2) and sum(s["reasons"].values()) == 2, s
print("e2e: CLI filter ok", s["reasons"])
EOF
deactivate
echo "e2e: clean install, make run, HTTP and CLI filter: ok in $(( $(date +%s) - t0 )) s"
