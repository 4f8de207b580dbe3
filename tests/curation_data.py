"""Synthetic curation inputs of any size (tests and ``bench/curation_bench.py``).

Problem-shaped texts of random words and numbers (distinct problems share
little), with the copies a real RL mix has: exact and whitespace copies, near
copies (one word changed), copies wrapped in a prompt template, numbers-changed
variants, and benchmark items planted verbatim or with one number changed.
Deterministic for a seed; written as JSONL in one pass (a million rows in a few
seconds, never all in memory).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: Templates the way RL recipes wrap a problem (``verirl.curation.near_dedup.WRAPPERS`` knows these).
TEMPLATES = (
    "<|im_start|>user\n{p}\nPlease reason step by step, and put your final answer within \\boxed{{}}.<|im_end|>\n"
    "<|im_start|>assistant\n",
    "Solve the following math problem efficiently and clearly. The last line of your response should be of the "
    "following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. I hope it is correct' (without quotes) "
    "where ANSWER is just the final number or expression that solves the problem. Think step by step before "
    "answering.\n\n{p}",
    "[INST] {p} Let's think step by step and output the final answer within \\boxed{{}}. [/INST]",
    "Question: {p}\nAnswer:",
    "{p}\n\nRemember to put your answer on its own line after \"Answer:\".",
)


def vocab(rng: random.Random, n: int = 5000) -> list[str]:
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


def problem(rng: random.Random, words: list[str]) -> str:
    toks = [rng.choice(words) if rng.random() > 0.15 else str(rng.randint(2, 999)) for _ in range(rng.randint(25, 45))]
    return " ".join(toks).capitalize() + "? Find the value."


def benchmark(rng: random.Random, words: list[str], n: int = 200) -> list[dict]:
    return [{"id": f"b{i}", "problem": problem(rng, words) + " 17"} for i in range(n)]


def write_mix(path: Path, rows: int, seed: int = 7, bench_path: Path | None = None, planted: int = 100) -> dict:
    """``rows`` rows: 78% unique problems, and copies of earlier rows (exact, whitespace, one word
    changed, wrapped in a template, numbers changed), ``planted`` benchmark copies. Returns counts."""
    rng = random.Random(seed)
    words = vocab(rng)
    bench = benchmark(rng, words)
    if bench_path is not None:
        bench_path.write_text("".join(json.dumps(b) + "\n" for b in bench))
    pool: list[str] = []  # the last 20,000 unique problems: the sources of copies
    kinds: dict[str, int] = {}
    plant_at = set(rng.sample(range(rows // 10, rows), min(planted, rows - rows // 10)))
    with open(path, "w") as fh:
        for i in range(rows):
            r = rng.random()
            if i in plant_at:
                b = bench[rng.randrange(len(bench))]["problem"]
                kind, text = "planted", b if rng.random() < 0.5 else b[: -len(" 17")] + " 18"
            elif r < 0.78 or len(pool) < 100:
                kind, text = "unique", problem(rng, words)
                pool.append(text)
                if len(pool) > 20_000:
                    pool.pop(rng.randrange(len(pool)))
            else:
                src = rng.choice(pool)
                if r < 0.83:
                    kind, text = "exact", src
                elif r < 0.87:
                    kind, text = "whitespace", src.replace(" ", "  ", 3)
                elif r < 0.92:
                    w = src.split()
                    w[rng.randrange(len(w))] = rng.choice(words)
                    kind, text = "near", " ".join(w)
                elif r < 0.96:
                    kind, text = "wrapped", rng.choice(TEMPLATES).format(p=src)
                else:
                    kind, text = "numbers", src + f" ({rng.randint(2, 99)})"
            kinds[kind] = kinds.get(kind, 0) + 1
            fh.write(json.dumps({"id": f"r{i}", "problem": text, "answer": str(i % 97), "kind": kind}) + "\n")
    return kinds
