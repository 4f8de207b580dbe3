"""Token counts from a local tokenizer, for length shaping when a trainer sends text only.

OpenRLHF, slime and verl's reward functions receive decoded text, not token
counts, so DAPO's overlong punishment (counted in tokens) would fall back to
words. A local tokenizer fixes that: a ``tokenizer.json`` file (or a directory
holding one) read with the ``tokenizers`` library, else a directory read with
``transformers.AutoTokenizer`` (``local_files_only``, no remote code). Nothing
is ever downloaded: ``HF_HUB_OFFLINE`` is set before transformers is imported.
Without a tokenizer, lengths stay in words and the reward breakdown says so
(``length_unit: "words"``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from verirl.errors import InvalidInput

_lock = threading.Lock()
_cache: dict[str, Callable[[str], int]] = {}


def token_counter(path: str | os.PathLike, field: str = "tokenizer") -> Callable[[str], int]:
    """``count(text) -> number of tokens`` for the local tokenizer at ``path`` (loaded once per process)."""
    key = str(Path(path).expanduser().resolve())
    with _lock:
        fn = _cache.get(key)
        if fn is None:
            fn = _cache[key] = _load(Path(key), field)
        return fn


def _load(p: Path, field: str) -> Callable[[str], int]:
    tok_json = p if p.is_file() else p / "tokenizer.json"
    if tok_json.is_file():
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise InvalidInput("a tokenizer.json needs the `tokenizers` package (pip install tokenizers)", field=field) from None
        tok = Tokenizer.from_file(str(tok_json))
        return lambda text: len(tok.encode(text, add_special_tokens=False).ids)
    if p.is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise InvalidInput(f"{p} has no tokenizer.json and `transformers` is not installed", field=field) from None
        try:
            hf = AutoTokenizer.from_pretrained(str(p), local_files_only=True, trust_remote_code=False)
        except Exception as exc:
            raise InvalidInput(f"cannot load a tokenizer from {p}: {type(exc).__name__}", field=field) from None
        return lambda text: len(hf.encode(text, add_special_tokens=False))
    raise InvalidInput(f"no local tokenizer at {p} (a tokenizer.json file or a directory holding one)", field=field)


def resolve_named(name: str, directory: Path | None, field: str = "tokenizer") -> Path:
    """A request's ``tokenizer=<name>``: a file or directory directly inside the server's tokenizer directory."""
    if directory is None:
        raise InvalidInput("this server has no VERIRL_TOKENIZER_DIR: per-request tokenizers are off", field=field)
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise InvalidInput("tokenizer must be a plain name inside the server's tokenizer directory", field=field)
    p = (directory / name).resolve()
    if p.parent != directory.resolve() or not p.exists():
        raise InvalidInput(f"no tokenizer named {name!r} on this server", field=field)
    return p
