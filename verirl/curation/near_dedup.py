"""Dedup as a pure function of per-row signatures, the same on one machine and on Ray.

Every engine computes, per row, the same signatures (:func:`sign`): the exact
hash of the normalised text, its MinHash digest, its LSH band keys, a key of
the numbers it holds and a key of its answer. From them the result is defined
without reference to an order of work, so ``--engine local`` and ``--engine
ray`` agree row for row:

1. **Exact duplicates**: rows with the same exact hash; the first (lowest row
   number) is kept, the others are ``duplicate_of`` it. Only the first of each
   exact group takes part in the steps below.
2. **Candidates** (LSH): the rows of one band bucket, in row order; each is a
   candidate of the :data:`WINDOW` rows before it in that bucket (a bucket of a
   thousand near-identical texts costs 64 comparisons per row, not 1,000).
3. **Edges**: candidates whose estimated Jaccard similarity reaches the
   threshold; with ``numbers="different"`` also holding the same numbers (a
   problem with other numbers has another answer: another problem for RL).
4. **Clusters**: connected components of the edges; the first row of each is
   kept, the others are ``near_duplicate_of`` it, with ``near_similarity`` the
   highest similarity of the row's own edges.
5. **Conflicting answers**: an exact duplicate whose answer key differs from
   its first copy's is flagged ``conflicting_answer`` (one of the two labels is
   wrong, and a trainer would reward both).

The local engine runs steps 2-3 with numpy over all band keys; the Ray engine
explodes the bands into rows, groups them by key in a distributed shuffle and
verifies the candidates in Ray tasks (:mod:`verirl.curation.filter_ray`). Both hand
their edges to :func:`clusters`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from verirl.curation import primitives as C

WINDOW = C.BUCKET_CAP
_MASK = (1 << 64) - 1
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

#: Prompt wrappers of RL and eval recipes, removed before signing (a copy of a problem inside
#: one of them is the same problem). Matched on the raw text, case-insensitively.
WRAPPERS = tuple(re.compile(p, re.I | re.S) for p in (
    # a system turn is the recipe's, never the problem's
    r"<\|im_start\|>\s*system\b.*?<\|im_end\|>|<\|start_header_id\|>system<\|end_header_id\|>.*?<\|eot_id\|>"
    r"|<<SYS>>.*?<</SYS>>",
    r"<\|im_start\|>\s*(system|user|assistant)\s*|<\|im_end\|>|<\|(user|assistant|system|end|eot_id|begin_of_text)\|>"
    r"|<\|start_header_id\|>\w+<\|end_header_id\|>|\[/?INST\]|<<SYS>>.*?<</SYS>>|<｜(User|Assistant)｜>",
    r"solve the following math problem[^\n]*?(step by step|efficiently and clearly)[^\n]*?\.(\s*the last line of your "
    r"response should be of the (following format|form)[^\n]*?(problem|expression that solves the problem)\.)?"
    r"(\s*think step by step before answering\.)?",
    r"remember to put your answer on its own line after \"?answer:?\"?[^\n]*",
    r"please reason step by step,? and put your final answer within \\boxed\{\}\.?",
    r"let'?s think step by step and output the final answer (within \\boxed\{\}|after \"?####\"?)\.?",
    r"put your final answer within \\boxed\{\}\.?",
    r"(return|give) your final (response|answer) (as|in) [^\n]*?\\boxed\{[^\n]*?\}\.?",
    r"^\s*(question|problem|q)\s*:\s*|\n\s*(answer|a|solution)\s*:\s*$",
))


def strip_wrappers(text: str) -> str:
    """The problem without the prompt template around it (chat markup, stock instructions)."""
    for w in WRAPPERS:
        text = w.sub(" ", text)
    return text.strip()


def _key64(s: str) -> int:
    import xxhash

    return xxhash.xxh3_64_intdigest(s.encode())


def numbers_key(norm: str) -> int:
    """A key of the numbers of a normalised text, in order (``numbers="different"`` compares it)."""
    return _key64(" ".join(_NUMBER.findall(norm)))


def answer_key(answer: Any) -> int:
    """A key of an answer label, normalised like a problem text; 0 for no answer."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return 0
    return _key64(C.normalize(str(answer)).replace(" ", "")) or 1


def sign(texts: Sequence[str], answers: Sequence[Any] | None = None) -> dict[str, Any]:
    """Per-row signatures of a batch: ``hash`` (str), ``digest`` (n x NUM_PERM uint32),
    ``bands`` (n x BANDS uint64), ``numbers`` and ``answer`` (uint64)."""
    import numpy as np

    bare = [strip_wrappers(t) for t in texts]
    norms = [C.normalize(t) for t in bare]
    digests = C.minhashes(bare, norms)
    return {
        "hash": [C.exact_hash(t, n) for t, n in zip(bare, norms, strict=True)],
        "digest": digests,
        "bands": band_keys(digests),
        "numbers": np.array([numbers_key(n) for n in norms], dtype=np.uint64),
        "answer": np.array([answer_key(a) for a in answers] if answers is not None else [0] * len(texts), dtype=np.uint64),
    }


def band_keys(digests: Any) -> Any:
    """(n, BANDS) uint64 bucket keys: each band's ROWS values mixed into 64 bits (vectorized)."""
    import numpy as np

    d = np.ascontiguousarray(digests, dtype=np.uint32).reshape(-1, C.BANDS, C.ROWS).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.broadcast_to((np.arange(C.BANDS, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15),
                            d.shape[:2]).copy()
        for r in range(C.ROWS):
            h ^= d[:, :, r]
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
    return h


def bucket_pairs(rows: Any, window: int = WINDOW) -> tuple[Any, Any]:
    """Candidate pairs (earlier, later) within one bucket: each row and the ``window`` rows before it."""
    import numpy as np

    rows = np.sort(np.asarray(rows, dtype=np.int64))
    a, b = [], []
    for w in range(1, min(window, len(rows) - 1) + 1):
        a.append(rows[:-w])
        b.append(rows[w:])
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a), np.concatenate(b)


def candidate_pairs(rows: Any, bands: Any, window: int = WINDOW) -> Any:
    """All candidate pairs of all bands, as unique (earlier, later) rows in a (k, 2) int64 array."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    out = []
    for b in range(bands.shape[1]):
        order = np.lexsort((rows, bands[:, b]))
        ks, rs = bands[order, b], rows[order]
        for w in range(1, window + 1):
            same = ks[w:] == ks[:-w]
            if not same.any():
                break
            out.append(np.stack([rs[:-w][same], rs[w:][same]], axis=1))
    if not out:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(out), axis=0)


def verify_pairs(pairs: Any, digest_a: Any, digest_b: Any, num_a: Any, num_b: Any, threshold: float,
                 numbers: str) -> tuple[Any, Any]:
    """(mask of pairs that are edges, their similarity): the one rule both engines apply."""
    import numpy as np

    sim = np.count_nonzero(digest_a == digest_b, axis=1) / C.NUM_PERM
    ok = sim >= threshold
    if numbers == "different":
        ok &= num_a == num_b
    return ok, sim


def exact_groups(hashes: Sequence[str]) -> Any:
    """Step 1: for each row, the first row with its exact hash, or -1 for a first (int64 array)."""
    import numpy as np

    first: dict[str, int] = {}
    dup_of = np.full(len(hashes), -1, dtype=np.int64)
    for i, h in enumerate(hashes):
        j = first.setdefault(h, i)
        if j != i:
            dup_of[i] = j
    return dup_of


def clusters(n: int, hashes: Any, answers: Any, edges: Any, sims: Any) -> dict[str, Any]:
    """Per-row results from the exact groups and the verified edges (rows are 0..n-1, in order).

    ``hashes``: the exact hashes, or the exact groups already computed (:func:`exact_groups`'s
    array; the Ray engine computes them in a shuffle). Returns ``dup_of``, ``near_of`` (row
    numbers or -1), ``near_sim``, ``root`` (the row each cluster keeps) and ``conflict``
    (bool), as numpy arrays.
    """
    import numpy as np

    dup_of = hashes if isinstance(hashes, np.ndarray) and hashes.dtype == np.int64 else exact_groups(hashes)
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    best = np.zeros(n, dtype=np.float64)
    for (a, b), s in zip(np.asarray(edges, dtype=np.int64).reshape(-1, 2), np.asarray(sims, dtype=np.float64), strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root is the component's first row
        best[a] = max(best[a], s)
        best[b] = max(best[b], s)
    root = np.array([find(i) for i in range(n)], dtype=np.int64)
    exact = dup_of >= 0
    root[exact] = root[dup_of[exact]]
    near_of = np.where((root != np.arange(n)) & ~exact, root, -1)
    answers = np.asarray(answers, dtype=np.uint64)
    conflict = np.zeros(n, dtype=bool)
    if exact.any():
        j = dup_of[exact]
        conflict[exact] = (answers[exact] != answers[j]) & (answers[exact] != 0) & (answers[j] != 0)
    return {"dup_of": dup_of, "near_of": near_of, "near_sim": np.round(best, 4), "root": root, "conflict": conflict}


def local_edges(digests: Any, bands: Any, numbers_keys: Any, reps: Any, threshold: float, numbers: str,
                chunk: int = 1 << 18) -> tuple[Any, Any]:
    """Edges among the rows ``reps`` (the first of each exact group), on one machine."""
    import numpy as np

    reps = np.asarray(reps, dtype=np.int64)
    pairs = candidate_pairs(reps, bands[reps])
    keep, sims = [], []
    for s in range(0, len(pairs), chunk):
        p = pairs[s : s + chunk]
        ok, sim = verify_pairs(p, digests[p[:, 0]], digests[p[:, 1]], numbers_keys[p[:, 0]], numbers_keys[p[:, 1]],
                               threshold, numbers)
        keep.append(p[ok])
        sims.append(sim[ok])
    if not keep:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    return np.concatenate(keep), np.concatenate(sims)
