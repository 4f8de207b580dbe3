"""The core of the ``verirl`` command: the data tools (``filter``, ``benchmarks``).

The deployables' commands (``serve``, ``worker``) are added by the composition
root, :mod:`verirl_app`, which the ``verirl`` console script runs: the core never
imports the service or the workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from verirl import __version__

#: Adds subcommands to the ``verirl`` parser (see :func:`build_parser`).
Extension = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _cmd_filter(args: argparse.Namespace) -> int:
    import json

    from verirl.curation.filter import FilterOptions, Interrupted, run_filter
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
        decontaminate_fields=args.decontaminate_fields or [],
        dedup_numbers=args.dedup_numbers,
        against=args.against,
        engine=args.engine,
        ray_address=args.ray_address,
        keep=args.keep,
        drop=args.drop,
        num_proc=args.num_proc or (os.cpu_count() or 1),
        shard_size=args.shard_size,
        progress=not args.quiet,
    )
    try:
        summary = run_filter(args.input, args.out, opts, get_settings().data_dir)
    except Interrupted as exc:
        print(f"\nverirl filter: stopped by {exc}; the shards done are kept in {args.out}.work/: "
              "run the same command again to resume", file=sys.stderr)
        # Everything is stopped and the checkpoint is on disk: skip the interpreter's slow teardown
        # of the loaded dataset, so an interrupt ends the command at once; but first wait for every
        # child (pool processes, multiprocessing's resource tracker): none outlives the command.
        from verirl.curation.filter import reap_children

        reap_children()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + exc.signum)
    print(json.dumps({k: summary[k] for k in ("rows", "kept", "dropped", "reasons", "flags", "seconds")}))
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    import json

    from verirl.curation.primitives import load_items
    from verirl.curation.filter import add_local_benchmark, bench_dir
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


#: The extra each command needs beyond the client-only install (pyproject.toml's optional dependencies).
EXTRAS = {"filter": "data", "filter-ray": "ray", "benchmarks": "data", "serve": "server", "worker": "server"}


def _extra_hint(command: str, module: str) -> str:
    extra = "ray" if module == "ray" else EXTRAS.get(command, "server")
    return (f"`verirl {command}` needs the {extra!r} extra (no module named {module!r}): "
            f"pip install 'verirl[{extra}]' (from a clone: pip install '/path/to/verirl[{extra}]')")


def build_parser(extensions: Sequence[Extension] = ()) -> argparse.ArgumentParser:
    """The ``verirl`` parser: each extension adds its subcommands (the composition root adds serve and worker)."""
    p = argparse.ArgumentParser(prog="verirl", description="Verifiable rewards for RL of reasoning LLMs.")
    p.add_argument("--version", action="version", version=f"verirl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for extend in extensions:
        extend(sub)

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
    f.add_argument("--decontaminate-fields", nargs="+", metavar="COLUMN",
                   help="more text columns to decontaminate (each flagged row names the benchmark item)")
    f.add_argument("--dedup-numbers", choices=["same", "different"], default="different",
                   help="is a copy with other numbers a duplicate? default different: another problem for RL")
    f.add_argument("--against", default=None, metavar="OUTPUT",
                   help="dedup against an earlier output (a file or folder): its rows come first")
    f.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (this machine, all cores) or ray (a Ray cluster; pip install 'verirl[ray]')")
    f.add_argument("--ray-address", default=None,
                   help="Ray cluster for --engine ray (default RAY_ADDRESS, else a local Ray for the run)")
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


def main(argv: list[str] | None = None, extensions: Sequence[Extension] = ()) -> int:
    from verirl.curation.datasets_io import go_offline

    go_offline()  # before anything imports `datasets`: it reads the variables once, at import
    args = build_parser(extensions).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except ModuleNotFoundError as exc:  # a client-only install (`pip install verirl`) running a data/server command
        print(f"verirl: error: {_extra_hint(args.command, exc.name or str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # a clear one-line error for the operator
        logging.getLogger("verirl").debug("fatal", exc_info=True)
        print(f"verirl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
