"""The Python client of a verirl server: :class:`Client` and :class:`AsyncClient`.

Only ``httpx`` and the standard library: a training environment that imports
this module (and ``verirl.integrations.*``) needs none of the server stack.

    from verirl import Client
    with Client() as c:                       # VERIRL_URL, VERIRL_API_KEY
        out = c.score([{"completion": r"... \\boxed{4}", "answer": "4"}])
        out["results"][0]["reward"]           # 1.0

Behaviour:

* **Batching.** Large item lists are split into requests of ``batch_size``
  items (rollouts of one ``group`` are kept in one request so that the
  server's group statistics stay whole); the async client sends them
  concurrently (``max_concurrency``). Results come back in input order.
* **Retries** with exponential backoff and jitter on 429 (honouring
  ``Retry-After``), 502/503/504, timeouts and connection errors; a 500 or the
  last failure raises :class:`verirl.errors.ServiceUnavailable`.
* **4xx** (bad input, auth) raise :class:`verirl.errors.ClientError` at once,
  with the server's error code, message and field.
* **Fork-safe.** A client used in a forked child (verl's and PRIME's process
  pools, ``multiprocessing`` with the fork start method) notices the new pid
  and opens its own connections; it never writes to the parent's sockets.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import httpx

from verirl.batch import batch_stats
from verirl.errors import ClientError, ServiceUnavailable

DEFAULT_URL = "http://127.0.0.1:8000"
_RETRY_STATUS = frozenset({429, 502, 503, 504})


def _env_url(url: str | None) -> str:
    return (url or os.environ.get("VERIRL_URL") or DEFAULT_URL).rstrip("/")


def _headers(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else os.environ.get("VERIRL_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("retry-after", "")))
    except ValueError:
        return None


def _client_error(resp: httpx.Response) -> ClientError:
    try:
        err = resp.json()["error"]
        return ClientError(resp.status_code, err.get("code", "error"), err.get("message", ""), err.get("field"))
    except Exception:
        return ClientError(resp.status_code, "http_error", resp.text[:500])


def split_batches(items: Sequence[dict], batch_size: int) -> list[list[int]]:
    """Index lists of at most ``batch_size`` items, never splitting a ``group`` (unless it alone is bigger)."""
    batches: list[list[int]] = []
    cur: list[int] = []
    by_group: dict[Any, list[int]] = {}
    order: list[Any] = []
    for i, it in enumerate(items):
        g = it.get("group") if isinstance(it, dict) else None
        key = ("g", g) if g is not None else ("i", i)
        if key not in by_group:
            by_group[key] = []
            order.append(key)
        by_group[key].append(i)
    for key in order:
        idx = by_group[key]
        if cur and len(cur) + len(idx) > batch_size:
            batches.append(cur)
            cur = []
        while len(idx) > batch_size:
            batches.append(idx[:batch_size])
            idx = idx[batch_size:]
        cur.extend(idx)
    if cur:
        batches.append(cur)
    return batches


def merge(items: Sequence[dict], parts: list[tuple[list[int], dict]], seconds: float) -> dict[str, Any]:
    """Put batch answers back in input order; recompute whole-request statistics."""
    results: list[dict | None] = [None] * len(items)
    groups: dict[str, Any] = {}
    modes = set()
    for idx, resp in parts:
        for i, r in zip(idx, resp["results"], strict=True):
            results[i] = r
        groups.update(resp.get("groups") or {})
        modes.add((resp.get("stats") or {}).get("mode"))
    done = [r for r in results if r is not None]
    stats = {**batch_stats(done, seconds), "requests": len(parts), "mode": modes.pop() if len(modes) == 1 else None}
    return {"results": done, "stats": stats, "groups": groups}


class _Base:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        batch_size: int = 4096,
        integration: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.url = _env_url(url)
        self.headers = _headers(api_key)
        if integration:  # the trainer integration calling (its label errors are counted under its name)
            self.headers["X-Verirl-Integration"] = integration
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.batch_size = batch_size

    def _delay(self, attempt: int, resp: httpx.Response | None) -> float:
        ra = _retry_after(resp) if resp is not None else None
        if ra is not None:
            return min(self.max_backoff_s, ra)
        base = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return base * (0.5 + random.random() / 2)

    _RETRY = object()

    def _answer(self, resp: httpx.Response, path: str) -> Any:
        """The JSON body, ``_RETRY`` for a status worth retrying, or the exception to raise."""
        if resp.status_code < 400:
            return resp.json()
        if resp.status_code in _RETRY_STATUS:
            return self._RETRY
        if resp.status_code < 500:
            raise _client_error(resp)
        raise ServiceUnavailable(f"{resp.status_code} from {self.url}{path}: {resp.text[:300]}")

    def _give_up(self, path: str, last: str) -> ServiceUnavailable:
        return ServiceUnavailable(f"{self.url}{path} failed after {self.max_retries + 1} attempts ({last})")

    @staticmethod
    def _body(items: Sequence[dict], options: dict | None) -> dict:
        body: dict[str, Any] = {"items": list(items)}
        if options:
            body["options"] = options
        return body


_LIVE: weakref.WeakSet = weakref.WeakSet()  # every Client of this process, for the fork handler below


def _after_fork_in_child() -> None:
    """In a forked child: every client's lock and pool anew.

    Another thread of the parent may have held a client's lock (making its first call) at the
    moment of the fork; that thread does not exist in the child, so the lock would never be
    released. The pool is dropped, not closed: its sockets are the parent's.
    """
    for c in list(_LIVE):
        c._pid_lock = threading.Lock()
        c._http_client, c._pid = None, -1


os.register_at_fork(after_in_child=_after_fork_in_child)


class Client(_Base):
    """Synchronous client; one pooled ``httpx.Client`` per process. Thread-safe and fork-safe."""

    def __init__(self, url: str | None = None, api_key: str | None = None, **kw: Any) -> None:
        super().__init__(url, api_key, **kw)
        self._pid = -1
        self._http_client: httpx.Client | None = None
        self._pid_lock = threading.Lock()
        _LIVE.add(self)

    @property
    def _http(self) -> httpx.Client:
        """The connection pool of this process: a forked child gets a new one (the parent's
        sockets are shared with the parent; using them would interleave two conversations)."""
        if self._pid != os.getpid():
            with self._pid_lock:
                if self._pid != os.getpid():
                    # The inherited pool is dropped, not closed: closing could shut sockets the parent uses.
                    self._http_client = httpx.Client(
                        base_url=self.url,
                        headers=self.headers,
                        timeout=self.timeout,
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
                    )
                    self._pid = os.getpid()
        return self._http_client  # type: ignore[return-value]

    def request(self, method: str, path: str, json: Any = None, params: dict | None = None) -> Any:
        last: str = ""
        for attempt in range(self.max_retries + 1):
            resp = None
            try:
                resp = self._http.request(method, path, json=json, params=params)
                out = self._answer(resp, path)
                if out is not self._RETRY:
                    return out
                last = f"HTTP {resp.status_code}"
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, resp))
        raise self._give_up(path, last)

    def score(self, items: Sequence[dict], options: dict | None = None) -> dict[str, Any]:
        """Grade items (any number: split into batches); the merged ScoreResponse."""
        t0 = time.perf_counter()
        if not items:
            return merge([], [], 0.0)
        parts = []
        for idx in split_batches(items, self.batch_size):
            resp = self.request("POST", "/v1/score", self._body([items[i] for i in idx], options))
            parts.append((idx, resp))
        return merge(items, parts, time.perf_counter() - t0)

    def rewards(self, items: Sequence[dict], options: dict | None = None) -> list[float | None]:
        return [r["reward"] for r in self.score(items, options)["results"]]

    def submit(self, items: Sequence[dict], options: dict | None = None) -> str:
        return self.request("POST", "/v1/jobs", self._body(items, options))["job_id"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}")

    def wait(self, job_id: str, timeout: float = 3600.0, poll_s: float = 0.5) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in ("done", "failed"):
                return job
            if time.monotonic() > end:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s")
            time.sleep(poll_s)

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/healthz")

    def info(self) -> dict[str, Any]:
        return self.request("GET", "/v1/info")

    def close(self) -> None:
        if self._http_client is not None and self._pid == os.getpid():
            self._http_client.close()
        self._http_client, self._pid = None, -1

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """Asynchronous client; batches go out concurrently (``max_concurrency``)."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, max_concurrency: int = 8, **kw: Any) -> None:
        super().__init__(url, api_key, **kw)
        self.max_concurrency = max(1, max_concurrency)
        self._pid = -1
        self._http_client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._pid != os.getpid():  # a forked child: its own connections
            self._http_client = httpx.AsyncClient(
                base_url=self.url,
                headers=self.headers,
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
            self._pid = os.getpid()
        return self._http_client  # type: ignore[return-value]

    async def request(self, method: str, path: str, json: Any = None, params: dict | None = None) -> Any:
        last = ""
        for attempt in range(self.max_retries + 1):
            resp = None
            try:
                resp = await self._http.request(method, path, json=json, params=params)
                out = self._answer(resp, path)
                if out is not self._RETRY:
                    return out
                last = f"HTTP {resp.status_code}"
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, resp))
        raise self._give_up(path, last)

    async def score(self, items: Sequence[dict], options: dict | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        if not items:
            return merge([], [], 0.0)
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(idx: list[int]) -> tuple[list[int], dict]:
            async with sem:
                return idx, await self.request("POST", "/v1/score", self._body([items[i] for i in idx], options))

        parts = await asyncio.gather(*(one(idx) for idx in split_batches(items, self.batch_size)))
        return merge(items, list(parts), time.perf_counter() - t0)

    async def rewards(self, items: Sequence[dict], options: dict | None = None) -> list[float | None]:
        return [r["reward"] for r in (await self.score(items, options))["results"]]

    async def health(self) -> dict[str, Any]:
        return await self.request("GET", "/healthz")

    async def aclose(self) -> None:
        if self._http_client is not None and self._pid == os.getpid():
            await self._http_client.aclose()
        self._http_client, self._pid = None, -1

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

