"""Start a ``verirl worker``: an RQ SimpleWorker in front of a verifier pool.

SimpleWorker runs jobs in this process (no fork per job, ~6 ms a job instead of
~25 ms), which is safe here because the grading itself happens in the pool's
killable child processes. The worker also announces itself under
``verirl:worker:<name>`` with a short TTL, so /readyz and /v1/info see a dead
worker disappear within seconds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

log = logging.getLogger("verirl.worker")

ANNOUNCE_TTL_S = 10


def run_worker(
    queues: list[str] | None = None, burst: bool = False, name: str | None = None, concurrency: int | None = None
) -> int:
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    from verirl import __version__
    from verirl.settings import get_settings, redis_options
    from workers.jobs import get_pool

    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("verirl worker needs REDIS_URL (the embedded mode runs its workers inside `verirl serve`)")
    conn = redis.Redis.from_url(settings.redis_url, **redis_options())
    conn.ping()
    queue_names = queues or [settings.queue]
    name = name or f"verirl-{socket.gethostname()}-{os.getpid()}"
    pool = get_pool(concurrency)  # start and warm the verifiers before taking jobs
    try:  # the isolation this worker's sandbox provides, as its verifier processes see it
        [probe] = pool.map([{"task": "isolation_report"}], [60.0])
        isolation = (probe.get("details") or {}).get("isolation") or {"available": False, "error": probe.get("verdict")}
    except Exception as exc:
        isolation = {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    stop = threading.Event()
    started = time.time()

    def announce() -> None:
        while not stop.is_set():
            info = {
                "name": name,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "queues": queue_names,
                "version": __version__,
                "started_at": started,
                "isolation": isolation,
                **pool.stats(),
            }
            try:
                conn.set(f"verirl:worker:{name}", json.dumps(info), ex=ANNOUNCE_TTL_S)
            except Exception as exc:
                log.warning("cannot announce worker: %s", exc)
            stop.wait(2.0)

    t = threading.Thread(target=announce, name="verirl-announce", daemon=True)
    t.start()
    try:
        generation = 0
        while True:
            # RQ's worker quits when Redis goes away; start a fresh one when it is back.
            worker = SimpleWorker(
                [Queue(q, connection=conn, serializer=JSONSerializer) for q in queue_names],
                connection=conn,
                name=name if generation == 0 else f"{name}.{generation}",
                serializer=JSONSerializer,
            )
            try:
                worker.work(burst=burst, logging_level=settings.log_level.upper(), with_scheduler=False)
                break
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("lost Redis (%s); waiting for it to come back", exc)
                _wait_for(conn)
                generation += 1
    finally:
        stop.set()
        try:
            conn.delete(f"verirl:worker:{name}")
        except Exception:
            pass
        pool.close()
    return 0


def _wait_for(conn) -> None:
    import redis

    delay = 0.2
    while True:
        try:
            if conn.ping():
                log.info("Redis is back")
                return
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        time.sleep(delay)
        delay = min(5.0, delay * 2)
