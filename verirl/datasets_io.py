"""Reading and writing Hugging Face ``datasets`` in the formats users have.

``load(path)``: a local ``.json``/``.jsonl``/``.parquet``/``.csv``/``.arrow``
file, a folder written by ``save_to_disk``, or the name of a hub dataset that
is already in the local cache (``name`` or ``name:split``; never downloads).
``save(ds, path)``: by the output's extension (``.jsonl``, ``.json``,
``.parquet``, ``.csv``), else a ``save_to_disk`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}


def load(path: str, split: str = "train") -> Any:
    import datasets

    datasets.disable_progress_bars()
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
        return datasets.load_dataset(builder, data_files=str(p), split="train")
    # A hub name: only from the local cache.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    name, _, sp = path.partition(":")
    try:
        return datasets.load_dataset(name, split=sp or split)
    except Exception as exc:
        raise ValueError(f"{path}: not a file or folder, and not a dataset in the local cache ({exc})") from None


def save(ds: Any, path: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    if p.suffix in (".jsonl", ".json"):
        ds.to_json(str(tmp), lines=True, force_ascii=False)
    elif p.suffix == ".parquet":
        ds.to_parquet(str(tmp))
    elif p.suffix == ".csv":
        ds.to_csv(str(tmp), index=False)
    else:
        ds.save_to_disk(str(tmp))
    if p.is_dir():
        import shutil

        shutil.rmtree(p)
    os.replace(tmp, p)
