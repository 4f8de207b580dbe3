"""The ``verirl`` command: serve, worker, and the data tools."""

from __future__ import annotations

import argparse
import logging
import os
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


def _cmd_filter(args: argparse.Namespace) -> int:
    import json

    from verirl.filter import FilterOptions, run_filter
    from verirl.settings import get_settings

    opts = FilterOptions(
        dedup=args.dedup,
        threshold=args.threshold,
        decontaminate=args.decontaminate or [],
        bench_field=args.bench_field,
        verify=args.verify,
        difficulty=args.difficulty,
        text_field=args.text_field,
        id_field=args.id_field,
        answer_field=args.answer_field,
        completion_field=args.completion_field,
        rollouts_field=args.rollouts_field,
        keep=args.keep,
        drop=args.drop,
        num_proc=args.num_proc or (os.cpu_count() or 1),
        shard_size=args.shard_size,
        progress=not args.quiet,
    )
    summary = run_filter(args.input, args.out, opts, get_settings().data_dir)
    print(json.dumps({k: summary[k] for k in ("rows", "kept", "dropped", "reasons", "seconds")}))
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    import json

    from verirl.curation import load_items
    from verirl.filter import add_local_benchmark, bench_dir
    from verirl.settings import get_settings

    data_dir = get_settings().data_dir
    if args.action == "list":
        for f in sorted(bench_dir(data_dir).glob("*.json")):
            b = json.loads(f.read_text())
            print(f"{b['name']}\t{len(b['items'])} items\t{b['hash']}")
        return 0
    if not args.name or not args.path:
        raise ValueError("usage: verirl benchmarks add NAME PATH [--field FIELD]")
    items = load_items(args.path, args.field, args.id_field)
    out = add_local_benchmark(data_dir, args.name, items)
    if args.push:
        from verirl.client import Client

        with Client(args.url) as c:
            out["server"] = c.request("POST", "/v1/benchmarks", {"name": args.name, "items": items})
    print(json.dumps(out))
    return 0


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
    w.add_argument("--name", default=None, help="worker name (default VERIRL_WORKER_NAME, else host-pid)")
    w.set_defaults(func=_cmd_worker)

    f = sub.add_parser(
        "filter",
        help="dedup / decontaminate / verify / difficulty over a dataset (adds columns; drops only with --drop or --keep)",
        description="INPUT: a .json/.jsonl/.parquet/.csv/.arrow file, a save_to_disk folder, or a cached hub dataset name.",
    )
    f.add_argument("input")
    f.add_argument("--out", required=True, help="output: .jsonl, .json, .parquet, .csv, or a folder (save_to_disk)")
    f.add_argument("--dedup", action="store_true", help="exact (normalised hash) and near (MinHash LSH) duplicates")
    f.add_argument("--threshold", type=float, default=0.8, help="near-duplicate similarity (default 0.8)")
    f.add_argument("--decontaminate", nargs="+", metavar="BENCH", help="benchmark names (verirl benchmarks add) or files")
    f.add_argument("--bench-field", default=None, help="text field of benchmark files given as paths")
    f.add_argument("--verify", action="store_true", help="grade the completion column against the answer column")
    f.add_argument("--difficulty", action="store_true", help="pass-rate statistics from the rollouts column")
    f.add_argument("--text-field", default=None, help="problem text column (default: problem, question, prompt, text)")
    f.add_argument("--id-field", default=None, help="id column (default: id, else the row number)")
    f.add_argument("--answer-field", default=None, help="answer column (default: answer, gt, ground_truth, solution)")
    f.add_argument("--completion-field", default=None, help="completion column (default: completion, generation, response, output)")
    f.add_argument("--rollouts-field", default="rollouts", help="column of rollouts: completions, bools, rewards or verdicts")
    f.add_argument("--keep", default=None, metavar="EXPR", help='keep rows where this filter expression is true, e.g. "verified and not contaminated" (comparisons, in, is None, and/or/not over columns)')
    f.add_argument("--drop", action="store_true", help="drop rows flagged by the requested checks")
    f.add_argument("--num-proc", type=int, default=None, help="processes (default: all cores)")
    f.add_argument("--shard-size", type=int, default=5000, help="rows per checkpointed shard (resume unit)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=_cmd_filter)

    b = sub.add_parser("benchmarks", help="freeze benchmark sets for decontamination")
    b.add_argument("action", choices=["add", "list"])
    b.add_argument("name", nargs="?")
    b.add_argument("path", nargs="?", help="a file, a save_to_disk folder or a cached hub dataset")
    b.add_argument("--field", default=None, help="text field (default: problem, question, prompt, text)")
    b.add_argument("--id-field", default=None, help="id field (default: id, idx, unique_id, else the row number)")
    b.add_argument("--push", action="store_true", help="also register it with the server (POST /v1/benchmarks)")
    b.add_argument("--url", default=None, help="server for --push (default VERIRL_URL)")
    b.set_defaults(func=_cmd_benchmarks)
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
