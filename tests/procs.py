"""Real processes for tests: redis-server, `verirl serve`, `verirl worker`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any verirl or Redis setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIRL_") and k != "REDIS_URL"}
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.args = args
        self.log = log
        self._fh = open(log, "ab")
        self.p = subprocess.Popen(args, env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.kill(self.p.pid, sig)

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        else:
            try:  # leftovers of a killed leader (its verifier children die with it; be sure)
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._fh.close()

    def output(self) -> str:
        """The last 4,000 characters of the log (for failure messages)."""
        return self.log.read_text(errors="replace")[-4000:]

    def log_text(self) -> str:
        """The whole log."""
        return self.log.read_text(errors="replace")


def start_server(
    tmp: Path, *, redis_url: str | None = None, workers: int = 2, warm: bool = True, **env_extra: str
) -> tuple[Proc, str]:
    """A `verirl serve` on a free port, answering. ``warm``: also wait until its verifier processes
    are up (the server answers before, and queues grading requests; tests that time items want them up)."""
    port = free_port()
    extra = {"VERIRL_DATA_DIR": str(tmp / "data"), "VERIRL_WORKERS": str(workers), **env_extra}
    if redis_url:
        extra["REDIS_URL"] = redis_url
    proc = Proc([str(BIN / "verirl"), "serve", "--port", str(port)], clean_env(**extra), tmp / f"serve-{port}.log", cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc)
    if warm:
        key = (env_extra.get("VERIRL_API_KEYS") or "").split(",")[0].strip()
        wait_warm(url, proc, headers={"authorization": f"Bearer {key}"} if key else None)
    return proc, url


def wait_warm(url: str, proc: Proc, timeout: float = 120, headers: dict | None = None) -> None:
    """Until /readyz no longer says ``warming`` (whatever else it says: Redis may be down on purpose)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"process exited early:\n{proc.output()}")
        try:
            r = httpx.get(url + "/readyz", timeout=2, headers=headers)
            if r.status_code != 503 or not r.json().get("warming"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} still warming up after {timeout} s:\n{proc.output()}")


def start_worker(tmp: Path, redis_url: str, concurrency: int = 1, name: str | None = None, **env_extra: str) -> Proc:
    args = [str(BIN / "verirl"), "worker", "--concurrency", str(concurrency)]
    if name:
        args += ["--name", name]
    n = len(list(tmp.glob("worker-*.log")))
    return Proc(args, clean_env(REDIS_URL=redis_url, **env_extra), tmp / f"worker-{n}.log", cwd=tmp)


def wait_http(url: str, proc: Proc, timeout: float = 60, status: int = 200, headers: dict | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"process exited early:\n{proc.output()}")
        try:
            r = httpx.get(url, timeout=2, headers=headers)
            if r.status_code == status:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not answering {status} (last {last}):\n{proc.output()}")


def start_redis(tmp: Path, appendonly: bool = False, port: int | None = None) -> tuple[Proc, str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    d = tmp / f"redis-{port}"
    d.mkdir(exist_ok=True)
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(d)]
    args += ["--appendonly", "yes" if appendonly else "no"]
    proc = Proc(args, clean_env(), d / "redis.log")
    import redis

    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            if r.ping():
                break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        raise RuntimeError(f"redis-server did not start:\n{proc.output()}")
    return proc, f"redis://127.0.0.1:{port}/0"
