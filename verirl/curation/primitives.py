"""Curation primitives: normalised hashing, MinHash LSH on character shingles,
benchmark decontamination rules and difficulty statistics.

No server dependency: the service's problem registry and the ``verirl filter``
CLI both build on these functions (needs the ``server`` extra: rensa, numpy,
xxhash).

* **Exact duplicates**: :func:`exact_hash` is xxh3-128 of :func:`normalize`
  (NFKC, lower case, ``\\dfrac``/``\\tfrac`` as ``\\frac``, ``$``, braces,
  ``\\left``/``\\right``/``\\,`` dropped) without whitespace, so re-spaced and
  re-typeset copies collide.
* **Near duplicates**: MinHash (rensa, 128 permutations) over character
  5-grams of the normalised text. Word n-grams miss "the same problem with one
  number changed"; character shingles do not (measured in the tests). LSH with
  16 bands of 8 rows finds candidates; a candidate is a near duplicate when
  its estimated Jaccard similarity is >= the threshold (default 0.8).
* **Contamination** against a benchmark, three rules, each naming the rule and
  the benchmark item matched:

  ``ngram8``    word 8-grams shared with a benchmark item (the Open-R1 rule),
                leaving out *template* 8-grams: those found in 3 or more items
                of the registered benchmarks and those of a built-in list of
                stock phrases ("m and n are relatively prime positive
                integers", ...). Open-R1 flags on one shared 8-gram; measured on
                AMC 2023 against AIME 2024 that flagged 10 of 40 unrelated
                problems through such phrases, so verirl asks for
                max(3, 10% of the item's 8-grams) shared 8-grams with one item.
  ``stripped``  equal after removing everything but letters (the Light-R1 rule:
                catches number-changed copies); only for texts with >= 30 letters.
  ``minhash``   character-MinHash similarity >= 0.8 for short problems (< 40
                words, where 8-grams are too few to be reliable).

* **Difficulty**: see :func:`difficulty`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from verirl.schemas import FAILURE_VERDICTS

NUM_PERM = 128
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 5
SEED = 20250101
DEFAULT_THRESHOLD = 0.8
NGRAM = 8
TEMPLATE_DF = 3
MIN_SHARED_NGRAMS = 3
MIN_SHARED_FRACTION = 0.1
MIN_STRIPPED_LETTERS = 30
SHORT_WORDS = 40
SHORT_MINHASH_THRESHOLD = 0.8

_LATEX_NOISE = re.compile(
    r"\\left|\\right|\\[,;:! ()\[\]]|\\displaystyle|\\text\s*\{|\\mathrm\s*\{|\\mbox\s*\{|[${}]"
)
_FRAC = re.compile(r"\\[dt]frac")
_WS = re.compile(r"\s+")
_NOT_LETTER = re.compile(r"[\W\d_]+")


# --------------------------------------------------------------------------- text

def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _FRAC.sub(r"\\frac", text)
    text = _LATEX_NOISE.sub(" ", text)
    return _WS.sub(" ", text).strip()


def exact_hash(text: str, norm: str | None = None) -> str:
    import xxhash

    norm = normalize(text) if norm is None else norm
    return xxhash.xxh3_128_hexdigest(norm.replace(" ", "").encode())


def shingles(norm: str, k: int = SHINGLE) -> list[str]:
    if len(norm) <= k:
        return [norm]
    return [norm[i : i + k] for i in range(len(norm) - k + 1)]


def minhashes(texts: Sequence[str], norms: Sequence[str] | None = None) -> Any:
    """A (len(texts), NUM_PERM) uint32 matrix of MinHash digests of normalised texts."""
    import numpy as np
    from rensa import RMinHash

    if not texts:
        return np.zeros((0, NUM_PERM), dtype=np.uint32)
    norms = [normalize(t) for t in texts] if norms is None else norms
    digests = RMinHash.digests_from_token_sets([set(shingles(n)) for n in norms], NUM_PERM, SEED)
    return np.asarray(digests, dtype=np.uint32)


def band_keys(digest: Any) -> list[str]:
    """LSH bucket keys of one digest: ``"<band>:<hash of its rows>"``."""
    import xxhash

    raw = digest.tobytes()
    step = ROWS * 4
    return [f"{b}:{xxhash.xxh3_64_hexdigest(raw[b * step : (b + 1) * step])}" for b in range(BANDS)]


def similarity(a: Any, b: Any) -> float:
    """Estimated Jaccard similarity of two digests (fraction of equal positions)."""
    import numpy as np

    return float(np.count_nonzero(a == b)) / NUM_PERM


_PUNCT = "".join(chr(c) for c in range(0x21, 0x7F) if not chr(c).isalnum() and chr(c) != "_") + "“”‘’«»…–—"


def words(text: str, norm: str | None = None) -> list[str]:
    """Words of the normalised text, without the punctuation around them."""
    norm = normalize(text) if norm is None else norm
    return [w for w in (t.strip(_PUNCT) for t in norm.split(" ")) if w]


def ngrams(ws: Sequence[str], n: int = NGRAM) -> set[str]:
    return {" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def ngram_list(ws: Sequence[str], n: int = NGRAM) -> list[str]:
    """The distinct n-grams in text order (deterministic, unlike a set's order)."""
    return list(dict.fromkeys(" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)))


def stripped(text: str) -> str:
    """The Light-R1 key: letters only (punctuation, digits and spaces removed)."""
    return _NOT_LETTER.sub("", unicodedata.normalize("NFKC", text or "").lower())


def content_hash(items: Sequence[dict]) -> str:
    canon = json.dumps([[str(it["id"]), it["text"]] for it in items], ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


# --------------------------------------------------------------------------- near duplicates

#: Entries kept per LSH bucket. A bucket this full holds a family of near-identical
#: texts; later members still meet its first BUCKET_CAP, and a query stays O(1)
#: instead of O(n) on template-heavy data.
BUCKET_CAP = 64


def band_ints(digest: Any) -> list[int]:
    """The LSH bucket keys of one digest as integers (in-memory indexes: smaller than strings)."""
    import xxhash

    raw = digest.tobytes()
    step = ROWS * 4
    return [xxhash.xxh3_64_intdigest(raw[b * step : (b + 1) * step], seed=b) for b in range(BANDS)]


class LSHIndex:
    """In-memory LSH over digests (the filter CLI and one registration batch).

    Members are str or int keys. With ``matrix`` (one digest per row, members
    are row numbers) no per-member digest is stored: the filter's memory per
    row is the matrix row plus its bucket entries. A bucket with one member
    holds it directly, not in a list.
    """

    def __init__(self, matrix: Any = None) -> None:
        self.buckets: dict[Any, Any] = {}
        self.digests: dict[Any, Any] = {}
        self.matrix = matrix

    def _digest(self, c: Any) -> Any:
        return self.matrix[c] if self.matrix is not None else self.digests[c]

    def add(self, key: Any, digest: Any, keys: list[Any] | None = None) -> None:
        if self.matrix is None:
            self.digests[key] = digest
        for k in keys or band_keys(digest):
            b = self.buckets.get(k)
            if b is None:
                self.buckets[k] = key
            elif isinstance(b, list):
                if len(b) < BUCKET_CAP:
                    b.append(key)
            else:
                self.buckets[k] = [b, key]

    def candidates(self, keys: list[Any]) -> set[Any]:
        out: set[Any] = set()
        for k in keys:
            b = self.buckets.get(k)
            if b is None:
                continue
            if isinstance(b, list):
                out.update(b)
            else:
                out.add(b)
        return out

    def query(self, digest: Any, threshold: float, keys: list[Any] | None = None) -> list[tuple[Any, float]]:
        """Neighbours with estimated similarity >= threshold, most similar first."""
        hits = []
        for c in self.candidates(keys or band_keys(digest)):
            s = similarity(digest, self._digest(c))
            if s >= threshold:
                hits.append((c, s))
        hits.sort(key=lambda x: (-x[1], str(x[0])))
        return hits


# --------------------------------------------------------------------------- contamination

#: Stock phrases of math problems: never evidence of contamination on their own.
STOCK_PHRASES = (
    "find the remainder when it is divided by 1000",
    "where m and n are relatively prime positive integers find m+n",
    "where m and n are relatively prime positive integers what is m+n",
    "can be written as frac m n where m and n are relatively prime positive integers",
    "can be written in the form frac m n where m and n are",
    "of real numbers that satisfy the following system of equations",
    "for which there exists a positive integer n",
    "what is the value of",
    "find the number of ordered pairs of positive integers",
    "express your answer as a common fraction",
    "express your answer in simplest radical form",
    "where m and n are relatively prime positive integers find m+n",
    "are relatively prime positive integers find m n",
    "find the sum of all positive integers n such that",
    "let n be the number of",
    "how many dollars does she make",
)


@dataclass
class Benchmark:
    """One frozen benchmark: its items and the lookups of the three rules."""

    name: str
    items: list[dict]
    hash: str = ""
    ngram_items: dict[str, list[int]] = field(default_factory=dict)
    ngram_need: list[int] = field(default_factory=list)
    stripped_items: dict[str, int] = field(default_factory=dict)
    short_lsh: LSHIndex = field(default_factory=LSHIndex)

    @classmethod
    def build(cls, name: str, items: list[dict], templates: set[str] | None = None) -> Benchmark:
        b = cls(name=name, items=items, hash=content_hash(items))
        grams_per_item = [ngrams(words(it["text"])) for it in items]
        df = Counter(g for gs in grams_per_item for g in gs)
        tmpl = set(templates or ()) | {g for g, c in df.items() if c >= TEMPLATE_DF}
        for i, gs in enumerate(grams_per_item):
            own = gs - tmpl
            for g in own:
                b.ngram_items.setdefault(g, []).append(i)
            b.ngram_need.append(max(1, min(len(own), max(MIN_SHARED_NGRAMS, math.ceil(MIN_SHARED_FRACTION * len(gs))))))
            key = stripped(items[i]["text"])
            if len(key) >= MIN_STRIPPED_LETTERS:
                b.stripped_items.setdefault(key, i)
        short = [i for i, it in enumerate(items) if len(words(it["text"])) < SHORT_WORDS]
        if short:
            digs = minhashes([items[i]["text"] for i in short])
            for i, d in zip(short, digs, strict=True):
                b.short_lsh.add(i, d)
        return b

    def check(self, text: str, digest: Any = None, ws: list[str] | None = None, grams: list[str] | None = None,
              key: str | None = None) -> list[dict[str, Any]]:
        """Contamination flags of one text against this benchmark (one per rule matched)."""
        flags: list[dict[str, Any]] = []
        ws = ws if ws is not None else words(text)
        shared: Counter[int] = Counter()
        first: dict[int, str] = {}
        for g in grams if grams is not None else ngram_list(ws):
            for i in self.ngram_items.get(g, ()):
                shared[i] += 1
                first.setdefault(i, g)
        hits = [(n, i) for i, n in shared.items() if n >= self.ngram_need[i]]
        if hits:
            n, i = max(hits, key=lambda x: (x[0], -x[1]))
            flags.append(self._flag(i, "ngram8", shared_ngrams=n, ngram=first[i]))
        key = stripped(text) if key is None else key
        if len(key) >= MIN_STRIPPED_LETTERS and key in self.stripped_items:
            flags.append(self._flag(self.stripped_items[key], "stripped"))
        if len(ws) < SHORT_WORDS and self.short_lsh.digests:
            if digest is None:
                digest = minhashes([text])[0]
            hits = self.short_lsh.query(digest, SHORT_MINHASH_THRESHOLD)
            if hits:
                flags.append(self._flag(hits[0][0], "minhash", similarity=round(hits[0][1], 4)))
        return flags

    def _flag(self, i: int, rule: str, **extra: Any) -> dict[str, Any]:
        return {"benchmark": self.name, "item": str(self.items[i]["id"]), "rule": rule, **extra}


def template_ngrams(benchmarks: Iterable[list[dict]]) -> set[str]:
    """8-grams in TEMPLATE_DF or more items across all benchmarks, plus the stock phrases."""
    df: Counter[str] = Counter()
    for items in benchmarks:
        for it in items:
            df.update(ngrams(words(it["text"])))
    out = {g for g, c in df.items() if c >= TEMPLATE_DF}
    for p in STOCK_PHRASES:
        out |= ngrams(words(p))
    return out


def build_benchmarks(named: dict[str, list[dict]]) -> dict[str, Benchmark]:
    tmpl = template_ngrams(named.values())
    return {name: Benchmark.build(name, items, tmpl) for name, items in named.items()}


def check_all(benchmarks: dict[str, Benchmark], text: str, digest: Any = None, norm: str | None = None) -> list[dict[str, Any]]:
    if not benchmarks:
        return []
    ws = words(text, norm)
    grams = ngram_list(ws)
    key = stripped(text)
    out: list[dict[str, Any]] = []
    for b in benchmarks.values():
        out.extend(b.check(text, digest, ws, grams, key))
    return out


# --------------------------------------------------------------------------- benchmark files

def load_items(path: str, field_name: str | None = None, id_field: str | None = None) -> list[dict]:
    """Benchmark items ``[{"id", "text"}]`` from a JSON/JSONL/Parquet/CSV file or a
    ``datasets`` folder/cached hub name. ``field_name``: the text column (default:
    the first of problem, question, prompt, text)."""
    from pathlib import Path

    p = Path(path)
    rows: list[dict]
    if p.is_file() and p.suffix in (".jsonl", ".json") and p.stat().st_size < 512 * 1024 * 1024:
        text = p.read_text()
        if p.suffix == ".json" and text.lstrip().startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        from verirl.curation.datasets_io import load

        rows = load(path).to_list()
    if not rows:
        raise ValueError(f"{path}: no rows")
    cols = list(rows[0])
    fld = field_name or next((c for c in ("problem", "question", "prompt", "text") if c in cols), None)
    if fld is None or fld not in cols:
        raise ValueError(f"{path}: no text field {field_name!r}; columns: {cols}")
    idf = id_field or next((c for c in ("id", "idx", "unique_id", "key") if c in cols), None)
    return [{"id": str(r[idf]) if idf and r.get(idf) is not None else str(i), "text": str(r[fld] or "")} for i, r in enumerate(rows)]


# --------------------------------------------------------------------------- difficulty

#: Bucket cut-offs on the observed pass rate of decided attempts (needs MIN_ATTEMPTS).
BUCKETS = (("unsolved", 0.0, 0.0), ("hard", 0.0, 0.3), ("medium", 0.3, 0.7), ("easy", 0.7, 1.0), ("solved", 1.0, 1.0))
MIN_ATTEMPTS = 4
PRIOR = (1.0, 1.0)  # Beta(alpha, beta): a uniform prior
EWMA_ALPHA = 0.1


def bucket(attempts: int, correct: int) -> str:
    """``unknown`` below MIN_ATTEMPTS; ``unsolved`` (0 right), ``hard`` (< 30%),
    ``medium`` (30-70%), ``easy`` (> 70%), ``solved`` (all right)."""
    if attempts < MIN_ATTEMPTS:
        return "unknown"
    p = correct / attempts
    if correct == 0:
        return "unsolved"
    if correct == attempts:
        return "solved"
    if p < 0.3:
        return "hard"
    if p <= 0.7:
        return "medium"
    return "easy"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def difficulty(attempts: int, correct: int, timeouts: int = 0, errors: int = 0, ewma: float | None = None, last_seen: float | None = None) -> dict[str, Any]:
    """Statistics of one problem from its counters.

    ``attempts`` counts decided gradings (correct, incorrect, no_answer);
    ``timeouts`` and ``errors`` are kept apart and never count as wrong.
    """
    a, b = PRIOR
    lo, hi = wilson(correct, attempts)
    return {
        "attempts": attempts,
        "correct": correct,
        "timeouts": timeouts,
        "errors": errors,
        "pass_rate": correct / attempts if attempts else None,
        "smoothed_pass_rate": (correct + a) / (attempts + a + b),
        "wilson_low": round(lo, 6),
        "wilson_high": round(hi, 6),
        "bucket": bucket(attempts, correct),
        "recent_pass_rate": ewma,
        "last_seen": last_seen,
    }


def rollout_outcomes(value: Any) -> list[bool] | None:
    """Outcomes from a rollouts column of bools, 0/1 rewards, or verdict strings."""
    if not isinstance(value, list | tuple):
        return None
    out = []
    for v in value:
        if isinstance(v, bool):
            out.append(v)
        elif isinstance(v, int | float):
            out.append(v > 0)
        elif isinstance(v, str) and v in ("correct", "incorrect", "no_answer"):
            out.append(v == "correct")
        elif isinstance(v, str) and v in FAILURE_VERDICTS:
            continue
        else:
            return None
    return out
