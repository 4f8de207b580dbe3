"""Reading and writing Hugging Face ``datasets`` in the formats users have.

``load(path)``: a local ``.json``/``.jsonl``/``.parquet``/``.csv``/``.arrow``
file, a folder written by ``save_to_disk``, or the name of a hub dataset that
is already in the local cache (``name`` or ``name:split``; never downloads).
``save(ds, path)``: by the output's extension (``.jsonl``, ``.json``,
``.parquet``, ``.csv``), else a ``save_to_disk`` folder. CSV has no lists:
list and struct columns are written as JSON text, and :func:`json_list` reads
them back.

Offline by default: ``datasets`` and ``huggingface_hub`` read
``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` once, when they are imported, so
:func:`go_offline` sets them when this module is imported, before anything of
verirl imports ``datasets`` (the CLI, the filter and the service import this
module first). A caller who sets them (``HF_HUB_OFFLINE=0``) keeps its choice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}


def go_offline() -> bool:
    """Set the Hugging Face offline variables unless the caller set them; True when offline."""
    for var in _OFFLINE_VARS:
        os.environ.setdefault(var, "1")
    return os.environ["HF_DATASETS_OFFLINE"].upper() in _TRUE


go_offline()


def _import_datasets() -> Any:
    import datasets

    if go_offline() and not getattr(datasets.config, "HF_HUB_OFFLINE", True):
        # Imported before this module set the variables (a library caller): switch it off now.
        datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.disable_progress_bars()
    return datasets


def json_list(value: Any, where: str) -> list | None:
    """A list column's value: a list, None, or (from a CSV) a JSON-encoded list; else a clear error."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
        raise ValueError(
            f"{where}: {value[:60]!r} is text, not a list. CSV has no list type: write the list as JSON "
            '(e.g. ["\\boxed{4}", "\\boxed{5}"] or [true, false]), or use .jsonl/.parquet'
        )
    raise ValueError(f"{where}: expected a list, got {type(value).__name__}")


def load(path: str, split: str = "train") -> Any:
    datasets = _import_datasets()
    p = Path(path)
    if p.is_dir():
        if (p / "state.json").exists() or (p / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split] if split in ds else ds[next(iter(ds))]
            return ds
        files = sorted(f for f in p.iterdir() if f.suffix in _BUILDERS)
        if not files:
            raise ValueError(f"{path}: a folder with no dataset files")
        return datasets.load_dataset(_BUILDERS[files[0].suffix], data_files=[str(f) for f in files], split="train")
    if p.is_file():
        builder = _BUILDERS.get(p.suffix)
        if builder is None:
            raise ValueError(f"{path}: unknown format (use .json, .jsonl, .parquet, .csv or .arrow)")
        if builder in ("json", "csv") and not _has_text(p):
            raise ValueError(f"{path}: the file is empty or holds only blank lines: no rows")
        try:
            ds = datasets.load_dataset(builder, data_files=str(p), split="train")
        except Exception as exc:  # datasets says only "An error occurred while generating the dataset"
            raise ValueError(f"{path}: {_parse_error(p, builder, exc)}") from None
        if len(ds) == 0:
            raise ValueError(f"{path}: no rows" + (" (a header line only)" if builder == "csv" else ""))
        return ds
    # A hub name: only from the local cache (offline unless the caller set HF_HUB_OFFLINE=0).
    name, _, sp = path.partition(":")
    try:
        return datasets.load_dataset(name, split=sp or split)
    except Exception as exc:
        raise ValueError(
            f"{path}: not a file or folder, and not a dataset in the local Hugging Face cache "
            f"(verirl never downloads; {type(exc).__name__})"
        ) from None


def _has_text(p: Path) -> bool:
    """Whether a text file holds anything but whitespace (read in blocks: the file may be large)."""
    with open(p, "rb") as fh:
        while block := fh.read(1 << 20):
            if block.strip():
                return True
    return False


def _parse_error(p: Path, builder: str, exc: Exception) -> str:
    """Where a JSON/JSONL/CSV file stops parsing: the first bad line, with its number."""
    cause = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    if "corresponds to no data" in str(exc):  # a CSV with a header line only, say
        return "no rows" + (" (a header line only)" if builder == "csv" else "")
    if builder == "json":
        with open(p, encoding="utf-8", errors="replace") as fh:
            first = fh.read(1 << 16).lstrip()
        if p.suffix == ".json" and first.startswith("["):
            try:
                json.loads(p.read_text(encoding="utf-8"))
            except ValueError as e:
                return f"not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}"  # type: ignore[attr-defined]
        with open(p, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as e:
                    return f"line {n} is not valid JSON ({e.msg} at column {e.colno}): {line.strip()[:80]!r}"  # type: ignore[attr-defined]
                if not isinstance(value, dict):
                    return f"line {n} is a JSON {type(value).__name__}, not an object (one row per line): {line.strip()[:80]!r}"
    return f"cannot be read as {builder.upper()}: {type(cause).__name__}: {str(cause)[:300]}"


def save(ds: Any, path: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    if p.suffix in (".jsonl", ".json"):
        ds.to_json(str(tmp), lines=True, force_ascii=False)
    elif p.suffix == ".parquet":
        ds.to_parquet(str(tmp))
    elif p.suffix == ".csv":
        _json_encode_nested(ds).to_csv(str(tmp), index=False)
    else:
        ds.save_to_disk(str(tmp))
    if p.is_dir():
        import shutil

        shutil.rmtree(p)
    os.replace(tmp, p)


def _json_encode_nested(ds: Any) -> Any:
    """List and struct columns as JSON text (CSV cannot hold them; :func:`json_list` reads them back)."""
    from datasets import Value

    nested = [name for name, feat in ds.features.items() if not isinstance(feat, Value)]
    if not nested:
        return ds

    def encode(batch: dict[str, list]) -> dict[str, list]:
        return {c: [None if v is None else json.dumps(v, ensure_ascii=False) for v in batch[c]] for c in nested}

    features = ds.features.copy()
    for c in nested:
        features[c] = Value("string")
    return ds.map(encode, batched=True, features=features)
