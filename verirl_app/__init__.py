"""The composition root: the ``verirl`` console script.

It is the one place that knows every part of the house. The core's commands
(``filter``, ``benchmarks``) come from :mod:`verirl.cli`; this module adds the
deployables' commands, ``serve`` (:mod:`service`) and ``worker``
(:mod:`workers`), and imports each deployable only inside its command, so the
data tools run in an environment that has only ``verirl`` and its extras.

Arrows point one way: ``verirl_app`` -> ``service``/``workers`` -> ``verirl`` ->
``sandbox``; nothing imports ``verirl_app`` (``tests/test_layers.py``).
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys

from verirl import cli

log = logging.getLogger("verirl.app")

#: Redis key a live worker refreshes every few seconds (``workers.main``: ``verirl:worker:<name>``).
WORKER_KEY = "verirl:worker:{name}"


def _setup_logging(level: str) -> None:
    from verirl.logs import configure

    configure(level)


def _bind(host: str, port: int) -> socket.socket:
    """Bind the API's socket before anything else starts, so a taken port fails first and clearly."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(
                f"port {port} on {host} is already in use: pick another one, e.g. "
                f"`VERIRL_PORT={port + 1} make run` or `verirl serve --port {port + 1}`"
            ) from None
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.serving import connection_bound, protocol_class
    from verirl.settings import get_settings, redis_refusal

    update = {k: v for k, v in {"host": args.host, "port": args.port, "workers": args.workers}.items() if v is not None}
    settings = get_settings().model_copy(update=update)
    _setup_logging(settings.log_level)
    settings.check_serving()
    hint = settings.auth_hint()
    if hint:
        log.warning(hint)
    if settings.redis_url:
        refusal = redis_refusal(settings.redis_url)
        if refusal:
            print(f"verirl serve: error: {refusal}", file=sys.stderr)
            return 2
    sock = _bind(settings.host, settings.port)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(
            settings.header_timeout_s,
            settings.max_header_kb * 1024,
            settings.max_headers,
            connection_bound(settings.max_connections),
        ),
        timeout_keep_alive=settings.keep_alive_s,
        backlog=2048,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    print(f"verirl: serving on http://{_url_host(settings.host)}:{settings.port} ({settings.mode} mode)", file=sys.stderr,
          flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _worker_name(args: argparse.Namespace, settings, pid: str | None = None) -> str:
    return args.name or settings.worker_name.format(hostname=socket.gethostname(), pid=pid or os.getpid())


def _worker_alive(args: argparse.Namespace, settings) -> int:
    """Exit 0 when this worker's heartbeat key is in Redis (a Docker healthcheck)."""
    import redis

    from verirl.settings import redis_options

    if not settings.redis_url:
        print("verirl: error: the worker healthcheck needs REDIS_URL", file=sys.stderr)
        return 1
    r = redis.Redis.from_url(settings.redis_url, **redis_options())
    name = _worker_name(args, settings, pid="*")  # a healthcheck runs in another process: any pid of this host
    if "*" in name:
        alive = next(iter(r.scan_iter(match=WORKER_KEY.format(name=name), count=1000)), None) is not None
    else:
        alive = bool(r.exists(WORKER_KEY.format(name=name)))
    print(f"worker {name}: {'alive' if alive else 'no heartbeat'}")
    return 0 if alive else 1


def _cmd_worker(args: argparse.Namespace) -> int:
    from verirl.settings import get_settings

    settings = get_settings()
    if args.healthcheck:
        return _worker_alive(args, settings)
    from workers.main import run_worker

    _setup_logging(settings.log_level)
    if settings.redis_url:
        from verirl.settings import redis_refusal

        refusal = redis_refusal(settings.redis_url)
        if refusal:
            print(f"verirl worker: error: {refusal}", file=sys.stderr)
            return 2
    return run_worker(args.queues or None, burst=args.burst, name=_worker_name(args, settings), concurrency=args.concurrency)


def add_deployables(sub: argparse._SubParsersAction) -> None:
    """``verirl serve`` and ``verirl worker``."""
    s = sub.add_parser("serve", help="run the HTTP API (embedded workers unless REDIS_URL is set)")
    s.add_argument("--host", default=None, help="bind address (default VERIRL_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (default VERIRL_PORT or 8000)")
    s.add_argument("--workers", type=int, default=None, help="embedded mode: verifier processes (default: cores)")
    s.set_defaults(func=_cmd_serve)

    w = sub.add_parser("worker", help="run an RQ worker (needs REDIS_URL)")
    w.add_argument("--queues", nargs="*", default=None, help="queues to listen on (default VERIRL_QUEUE)")
    w.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    w.add_argument("--concurrency", type=int, default=None, help="verifier processes (default VERIRL_WORKERS or cores)")
    w.add_argument("--name", default=None, help="worker name (default VERIRL_WORKER_NAME: verirl-{hostname}-{pid})")
    w.add_argument("--healthcheck", action="store_true", help="exit 0 if this worker's heartbeat is in Redis, else 1")
    w.set_defaults(func=_cmd_worker)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser([add_deployables])


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, [add_deployables])


if __name__ == "__main__":
    sys.exit(main())
