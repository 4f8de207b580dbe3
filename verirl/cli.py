"""The ``verirl`` command: serve, worker, and the data tools."""

from __future__ import annotations

import argparse
import logging
import sys

from verirl import __version__


def _setup_logging(level: str) -> None:
    from verirl.logs import configure

    configure(level)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from verirl.settings import get_settings

    update = {k: v for k, v in {"host": args.host, "port": args.port, "workers": args.workers}.items() if v is not None}
    settings = get_settings().model_copy(update=update)
    _setup_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from verirl.settings import get_settings
    from workers.main import run_worker

    _setup_logging(get_settings().log_level)
    return run_worker(args.queues or None, burst=args.burst, name=args.name, concurrency=args.concurrency)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="verirl", description="Verifiable rewards for RL of reasoning LLMs.")
    p.add_argument("--version", action="version", version=f"verirl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP API (embedded workers unless REDIS_URL is set)")
    s.add_argument("--host", default=None, help="bind address (default VERIRL_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="port (default VERIRL_PORT or 8000)")
    s.add_argument("--workers", type=int, default=None, help="embedded mode: verifier processes (default: cores)")
    s.set_defaults(func=_cmd_serve)

    w = sub.add_parser("worker", help="run an RQ worker (needs REDIS_URL)")
    w.add_argument("--queues", nargs="*", default=None, help="queues to listen on (default VERIRL_QUEUE)")
    w.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    w.add_argument("--concurrency", type=int, default=None, help="verifier processes (default VERIRL_WORKERS or cores)")
    w.add_argument("--name", default=None, help="worker name (default host-pid)")
    w.set_defaults(func=_cmd_worker)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # a clear one-line error for the operator
        logging.getLogger("verirl").debug("fatal", exc_info=True)
        print(f"verirl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
