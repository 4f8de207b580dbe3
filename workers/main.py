"""Start a ``verirl worker``: an RQ SimpleWorker in front of a verifier pool.

SimpleWorker runs jobs in this process (no fork per job, ~6 ms a job instead of
~25 ms), which is safe here because the grading itself happens in the pool's
killable child processes. The worker also announces itself under
``verirl:worker:<name>`` with a short TTL (its name indexed in the set
``verirl:workers``, so readers need no SCAN), and /readyz and /v1/info see a
dead worker disappear within seconds.

That announcement is also how a restart takes over its name: RQ refuses to start
a worker whose name has a registration without a death mark ("There exists an
active worker named ... already"), and a SIGKILLed worker leaves one for about
8 minutes. A worker started under a name nobody announces any more marks the old
registration dead and starts; one whose name a live worker announces waits for
that announcement to lapse, then gives up with a clear message.

RQ's own maintenance (registries, workers, the intermediate list of jobs taken
but never started) runs every :data:`MAINTENANCE_INTERVAL_S` instead of every
10 minutes: a backstop for chunks whose API is gone; the API re-sends the chunks
of its open requests itself within seconds (see :mod:`service.rq_dispatch`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid

log = logging.getLogger("verirl.worker")

ANNOUNCE_TTL_S = 6
ANNOUNCE_EVERY_S = 2.0
MAINTENANCE_INTERVAL_S = 30
WORKERS_KEY = "verirl:workers"  # names that announced; a name whose announcement lapsed is dead


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
    name = name or settings.worker_name or f"verirl-{socket.gethostname()}-{os.getpid()}"
    instance = uuid.uuid4().hex
    pool = get_pool(concurrency)  # start and warm the verifiers before taking jobs
    try:  # the isolation this worker's sandbox provides, as its verifier processes see it
        [probe] = pool.map([{"task": "isolation_report"}], [60.0])
        isolation = (probe.get("details") or {}).get("isolation") or {"available": False, "error": probe.get("verdict")}
    except Exception as exc:
        isolation = {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    stop = threading.Event()
    started = time.time()
    _claim_name(conn, name, instance, queue_names)

    def announce() -> None:
        while not stop.is_set():
            info = {
                "name": name,
                "instance": instance,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "queues": queue_names,
                "version": __version__,
                "started_at": started,
                "isolation": isolation,
                **pool.stats(),
            }
            try:
                with conn.pipeline(transaction=False) as p:
                    p.set(f"verirl:worker:{name}", json.dumps(info), ex=ANNOUNCE_TTL_S)
                    p.sadd(WORKERS_KEY, name)
                    p.execute()
            except Exception as exc:
                log.warning("cannot announce worker: %s", exc)
            stop.wait(ANNOUNCE_EVERY_S)

    t = threading.Thread(target=announce, name="verirl-announce", daemon=True)
    t.start()
    try:
        while True:
            # RQ's worker quits when Redis goes away; start a fresh one under the same name
            # (taking over our own registration) when it is back.
            worker = SimpleWorker(
                [Queue(q, connection=conn, serializer=JSONSerializer) for q in queue_names],
                connection=conn,
                name=name,
                serializer=JSONSerializer,
                maintenance_interval=MAINTENANCE_INTERVAL_S,
            )
            try:
                worker.work(burst=burst, logging_level=settings.log_level.upper(), with_scheduler=False)
                break
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("lost Redis (%s); waiting for it to come back", exc)
                _wait_for(conn)
                _claim_name(conn, name, instance, queue_names)
    finally:
        stop.set()
        try:
            conn.delete(f"verirl:worker:{name}")
            conn.srem(WORKERS_KEY, name)
        except Exception:
            pass
        pool.close()
    return 0


def _claim_name(conn, name: str, instance: str, queue_names: list[str]) -> None:
    """Take over ``name`` from a registration whose worker stopped announcing (killed, lost)."""
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    rq_key = f"{SimpleWorker.redis_worker_namespace_prefix}{name}"
    give_up = time.monotonic() + ANNOUNCE_TTL_S + 2 * ANNOUNCE_EVERY_S
    while True:
        try:
            if not conn.exists(rq_key) or conn.hexists(rq_key, "death"):
                return
            raw = conn.get(f"verirl:worker:{name}")
        except (redis.ConnectionError, redis.TimeoutError):
            _wait_for(conn)
            continue
        owner = json.loads(raw).get("instance") if raw else None
        if owner is None or owner == instance:
            stale = SimpleWorker(
                [Queue(q, connection=conn, serializer=JSONSerializer) for q in queue_names], connection=conn, name=name
            )
            stale.register_death()
            log.warning("took over the name %r: its previous worker stopped announcing (killed or lost); "
                        "its registration is marked dead", name)
            return
        if time.monotonic() > give_up:
            raise SystemExit(f"a live worker named {name!r} is running (it announces under verirl:worker:{name}); "
                             "give this one another --name or VERIRL_WORKER_NAME")
        log.info("waiting for the worker last registered as %r to stop announcing", name)
        time.sleep(1.0)


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
