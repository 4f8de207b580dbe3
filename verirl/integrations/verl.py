"""verl reward functions backed by a verirl server.

verl >= 0.7 computes rule rewards in its reward loop
(``verl/experimental/reward_loop/reward_manager/{naive,dapo}.py``): one
``run_single`` per response, which awaits ``compute_score`` when it is a
coroutine function and otherwise runs it in a thread. Use the async function::

    custom_reward_function:
      path: pkg://verirl.integrations.verl   # or the file path of this module
      name: compute_score_async              # naive or dapo reward manager
      reward_kwargs:                         # optional, passed to every call
        reward: dapo                         # a preset or spec (README: reward shaping)
        failure_score: 0.0                   # the score of an undecided item
        think: auto                          # auto | open (R1-distill templates) | strip | required | ignore
        tokenizer: /models/Qwen2.5-7B        # local tokenizer for token lengths (optional)
    reward_model:
      reward_manager: naive                  # or dapo (its overlong_buffer_cfg works as usual)

Functions, one per calling convention (each read from verl's source):

``compute_score_async`` / ``compute_score``
    ``(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)``
    as the reward loop's naive/dapo managers and the legacy
    ``verl/workers/reward_manager/{naive,dapo}.py`` call it; returns a dict:
    ``score`` (the reward) plus, for ``reward_extra_info``, ``acc``,
    ``verdict``, ``pred``, ``undecided``, ``error_code`` and the reward terms.
    Every item gets the same keys.
``compute_score_prime``
    ``(data_source, solution_str, ground_truth, extra_info)`` positionally, as
    ``verl/workers/reward_manager/prime.py`` calls it in a ``ProcessPoolExecutor``
    (the function is pickled, then ``float(result)``/``float(result[0])``);
    returns a float. Picklable from ``pkg://`` and from a file path alike.
``compute_score_batch``
    ``(data_sources, solution_strs, ground_truths, extra_infos, **reward_kwargs)``
    for the legacy ``BatchRewardManager`` (``reward_manager=batch``). verl >= 0.7's
    reward loop has no ``batch`` manager ("Unknown reward manager: batch"):
    there, use ``compute_score_async`` with ``naive``.

verl needs a number for every response: an item we could not decide
(``timeout``/``error``, or a label we cannot use: ``error_code:
invalid_label``) scores ``failure_score`` (default 0.0, env
``VERIRL_FAILURE_SCORE``) and carries ``undecided: 1.0``, never a silent 0 in
the logs. verl passes no prompt to reward functions; with an R1-distill chat
template (the prompt opens ``<think>``) set ``think: open`` (or put the prompt
text in ``extra_info["prompt"]`` and keep ``auto``). Server address:
``VERIRL_URL``; key: ``VERIRL_API_KEY``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from verirl.integrations._common import (
    Entry,
    flat_result,
    prepare,
    request_options,
    score_items,
    shared_client,
)


def _failure_score(kwargs: dict) -> float:
    if kwargs.get("failure_score") is not None:
        return float(kwargs["failure_score"])
    return float(os.environ.get("VERIRL_FAILURE_SCORE", "0.0"))


def _entries(
    solution_strs: Sequence[str], ground_truths: Sequence[Any], extra_infos: Sequence[Any] | None, kwargs: dict
) -> list[Entry]:
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    out = []
    for s, gt, ex in zip(solution_strs, ground_truths, extras, strict=True):
        prompt = kwargs.get("prompt")
        if prompt is None and isinstance(ex, dict) and isinstance(ex.get("prompt"), str):
            prompt = ex["prompt"]
        out.append(Entry(s or "", gt, prompt, ex if isinstance(ex, dict) else None))
    return out


def _prepared(entries: list[Entry], kwargs: dict) -> Any:
    return prepare(entries, hint="verl", task=kwargs.get("task"), think=kwargs.get("think"), tokenizer=kwargs.get("tokenizer"))


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """The legacy BatchRewardManager signature: one request for the whole batch."""
    p = _prepared(_entries(solution_strs, ground_truths, extra_infos, kwargs), kwargs)
    client = shared_client(kwargs.get("url"), kwargs.get("api_key"))
    out = score_items(client, p.items, request_options(kwargs.get("reward"), kwargs.get("options")))
    fail = _failure_score(kwargs)
    return [flat_result(r, fail) for r in p.merge(out)]


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's per-response reward function (naive/dapo managers, run in a thread)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]


#: Requests in flight from one process through compute_score_async. verl's reward loop
#: runs a sync compute_score in the event loop's default executor (min(32, cores + 4)
#: threads: 6 on 2 cores); awaited, this function is not capped by that.
IN_FLIGHT = 64
_executor: ThreadPoolExecutor | None = None
_executor_pid = -1


def _pool() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    if _executor is None or _executor_pid != os.getpid():
        _executor, _executor_pid = ThreadPoolExecutor(IN_FLIGHT, thread_name_prefix="verirl-verl"), os.getpid()
    return _executor


async def compute_score_async(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The same as a coroutine: verl's reward loop awaits it, so a step's responses are
    in flight together (up to IN_FLIGHT) and the server grades them as batches. The HTTP
    call runs on the pooled sync client in threads: on 2 cores, httpx's async pool spent
    about 5x the CPU per request of its sync pool (bench/README.md)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _pool(), functools.partial(compute_score, data_source, solution_str, ground_truth, extra_info, **kwargs)
    )


def compute_score_prime(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> float:
    """PrimeRewardManager's convention: ``evaluation_func(task, completion, reference,
    task_extra_info)`` in a process pool, result read as a number."""
    return float(compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)["score"])


if __name__ != "verirl.integrations.verl":
    # Loaded by file path (verl's custom_reward_function.path): hand verl the package's own
    # functions, so that PrimeRewardManager can pickle them into its process pool
    # (a function of a module loaded from a file cannot be found again by name).
    try:
        import verirl.integrations.verl as _pkg
    except ImportError:  # pragma: no cover - a copy of this file outside an installed verirl
        pass
    else:
        compute_score = _pkg.compute_score
        compute_score_async = _pkg.compute_score_async
        compute_score_batch = _pkg.compute_score_batch
        compute_score_prime = _pkg.compute_score_prime
