"""Which HTTP server fronts verirl: one-item request throughput and the limits each enforces.

The same app (``service.app:create_app``, embedded mode, 2 verifier processes) behind
each candidate server, on loopback, with the same 512 unique math completions
(``math_cot_100``), measured in one run:

* **batch**: one ``POST /get_reward`` of all 512 items (the reference a one-item path is held to);
* **get_reward x1**: 512 one-item ``POST /get_reward``, 64 in flight, keep-alive (slime, verl);
* **get_reward x1, new conn**: the same, a new connection per request (OpenRLHF's client);
* **score x1**: 512 one-item ``POST /v1/score``, 64 in flight, keep-alive.

and the protections, probed on each server:

* **431**: a 200 KB header gets 431 (else what it gets);
* **slowloris**: 5,000 half-sent requests held open, then ``/healthz`` on a new connection
  must answer within 5 s (served / starved). Each server starts with the descriptor limit
  a login shell gives (soft 1,024; the hard limit as it is).

Candidates: ``verirl serve`` (uvicorn + httptools + ``service/serving.py``, what ships),
uvicorn with httptools and with h11 alone, hypercorn, granian. A server that is not
installed is reported as such (``pip install granian hypercorn`` to compare them).

    .venv/bin/python bench/serving_bench.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import REPO, machine, math_rows, table

N = 512
IN_FLIGHT = 64
HALF_SENT = b"POST /v1/score HTTP/1.1\r\nHost: x\r\n"
BIN = REPO / ".venv" / "bin"


def _candidates(port: int) -> dict[str, list[str] | None]:
    app = "service.app:create_app"

    def exe(name: str) -> str | None:
        p = BIN / name
        return str(p) if p.exists() else shutil.which(name)

    uv, hc, gr = exe("uvicorn"), exe("hypercorn"), exe("granian")
    hp = ["--host", "127.0.0.1", "--port", str(port)]
    return {
        "verirl serve (uvicorn httptools + guard)": [str(BIN / "verirl"), "serve", "--port", str(port)],
        "uvicorn httptools (no guard)": uv and [uv, "--factory", app, "--http", "httptools", "--no-access-log", *hp],
        "uvicorn h11 (16 KB incomplete-event limit)": uv and [
            uv, "--factory", app, "--http", "h11", "--h11-max-incomplete-event-size", "16384", "--no-access-log", *hp],
        # hypercorn's CLI runs the app in a daemonic process, which may not start the verifier pool: serve it in-process
        "hypercorn (h11, read timeout 10 s)": hc and [
            str(BIN / "python"), "-c",
            "import asyncio; from hypercorn.config import Config; from hypercorn.asyncio import serve;"
            f"from service.app import create_app; c = Config(); c.bind = ['127.0.0.1:{port}']; c.read_timeout = 10;"
            "c.accesslog = None; asyncio.run(serve(create_app(), c))"],
        "granian (header-read timeout 10 s, 64 KB buffer)": gr and [
            gr, "--interface", "asgi", "--factory", app, "--http", "1", "--no-ws", "--workers", "1",
            "--http1-header-read-timeout", "10000", "--http1-buffer-size", "65536", *hp],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready")


class _Poster:
    def __init__(self, port: int, keep_alive: bool) -> None:
        import threading

        self.port, self.keep_alive, self.local = port, keep_alive, threading.local()

    def post(self, path: str, body: dict) -> dict:
        conn = getattr(self.local, "conn", None) if self.keep_alive else None
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            if self.keep_alive:
                self.local.conn = conn
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        if not self.keep_alive:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")
        return json.loads(payload)


def _samples(rows: list[dict], salt: str) -> list[tuple[str, str]]:
    flat = [(c, r["gt"]) for r in rows for c in r["code"]]
    return [(flat[i % len(flat)][0] + f"\n<!-- {salt} {i} -->", flat[i % len(flat)][1]) for i in range(N)]


def _many(fn, args) -> float:
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        t0 = time.perf_counter()
        list(pool.map(fn, args))
        return time.perf_counter() - t0


def _loads(port: int, rows: list[dict], salt: str) -> dict[str, float]:
    out = {}
    s = _samples(rows, salt + "b")
    p = _Poster(port, True)
    t0 = time.perf_counter()
    p.post("/get_reward", {"query": [c for c, _ in s], "labels": [g for _, g in s]})
    out["batch"] = time.perf_counter() - t0
    p = _Poster(port, True)
    out["get_reward x1"] = _many(lambda x: p.post("/get_reward", {"query": [x[0]], "labels": [x[1]]}), _samples(rows, salt + "g"))
    p2 = _Poster(port, False)
    out["get_reward x1, new conn"] = _many(
        lambda x: p2.post("/get_reward", {"query": [x[0]], "labels": [x[1]]}), _samples(rows, salt + "n"))
    p3 = _Poster(port, True)
    out["score x1"] = _many(
        lambda x: p3.post("/v1/score", {"items": [{"completion": x[0], "answer": x[1]}]}), _samples(rows, salt + "s"))
    return out


def _probe_431(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
            head = s.recv(64)
        return head.split(b"\r\n", 1)[0].split(b" ", 2)[1].decode() if head else "closed"
    except OSError as exc:
        return type(exc).__name__


def _probe_slowloris(port: int, n: int = 5000) -> str:
    socks = []
    try:
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(HALF_SENT)
                socks.append(s)
            except OSError:
                break
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            return "served" if c.getresponse().status == 200 else "refused"
        except OSError:
            return "starved"
    finally:
        for s in socks:
            s.close()


def main() -> None:
    import resource
    import subprocess

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default=None, help="substring of the candidates to run")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))

    def login_limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))

    rows = math_rows()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{N} unique math completions, {IN_FLIGHT} in flight; embedded mode, 2 verifier processes; "
          "seconds (lower is better), items/s in brackets\n")
    result_rows = []
    for name, cmd in _candidates(0).items():
        if args.only and args.only not in name:
            continue
        port = _free_port()
        cmd = _candidates(port)[name]
        if cmd is None:
            result_rows.append([name, "not installed", "", "", "", "", "", ""])
            continue
        with tempfile.TemporaryDirectory() as d:
            env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRL_") and k != "REDIS_URL"}
            env.update(VERIRL_WORKERS="2", VERIRL_DATA_DIR=d, PYTHONPATH=str(REPO))
            log = open(Path(d) / "server.log", "wb")
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=login_limits)
            try:
                _wait(port, proc)
                best: dict[str, float] = {}
                for rep in range(args.repeat):
                    for k, v in _loads(port, rows, f"{rep}").items():
                        best[k] = min(best.get(k, v), v)
                four31 = _probe_431(port)
                slow = _probe_slowloris(port)
                fmt = [f"{best[k]:.2f} ({N / best[k]:,.0f})" for k in ("batch", "get_reward x1", "get_reward x1, new conn", "score x1")]
                result_rows.append([name, *fmt, f"{best['get_reward x1'] / best['batch']:.2f}x", four31, slow])
            except Exception as exc:
                result_rows.append([name, f"failed: {exc}", "", "", "", "", "", ""])
            finally:
                os.killpg(proc.pid, 15)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
                log.close()
        print(table(["server", "batch 512", "get_reward x1", "get_reward x1 new conn", "score x1",
                     "x1 / batch", "200 KB header", "5,000 half-sent, then /healthz"], result_rows[-1:]), flush=True)
    print()
    print(table(["server", "batch 512", "get_reward x1", "get_reward x1 new conn", "score x1",
                 "x1 / batch", "200 KB header", "5,000 half-sent, then /healthz"], result_rows))


if __name__ == "__main__":
    main()
