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
    ``verl/workers/reward_manager/{naive,dapo}.py`` call it. The async one sends
    the calls of one event-loop turn (the reward loop gathers a step's
    responses) as batch requests. Both return a dict:
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
text in ``extra_info["prompt"]`` and keep ``auto``). The ground truth is a math
answer, a code label (a public dataset's test columns: APPS/TACO, verl
prime_code, LiveCodeBench, DeepCoder, CodeContests, KodCode, MBPP, HumanEval,
or verirl ``tests``, possibly as a JSON string; see :mod:`verirl.code.labels`), or an instruction-following ground
truth; a ``data_source`` such as ``ifeval`` or ``triviaqa`` picks the
instruction or QA task. Server address: ``VERIRL_URL``; key: ``VERIRL_API_KEY``.
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
from verirl.labels import task_of_source


def _failure_score(kwargs: dict) -> float:
    if kwargs.get("failure_score") is not None:
        return float(kwargs["failure_score"])
    return float(os.environ.get("VERIRL_FAILURE_SCORE", "0.0"))


def _entries(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None,
    kwargs: dict,
) -> list[Entry]:
    extras = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    out = []
    for ds, s, gt, ex in zip(data_sources, solution_strs, ground_truths, extras, strict=True):
        prompt = kwargs.get("prompt")
        if prompt is None and isinstance(ex, dict) and isinstance(ex.get("prompt"), str):
            prompt = ex["prompt"]
        out.append(Entry(s or "", gt, prompt, ex if isinstance(ex, dict) else None, task=task_of_source(ds)))
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
    p = _prepared(_entries(data_sources, solution_strs, ground_truths, extra_infos, kwargs), kwargs)
    client = shared_client(kwargs.get("url"), kwargs.get("api_key"), integration="verl")
    out = score_items(client, p.items, request_options(kwargs.get("reward"), kwargs.get("options")), p)
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


#: Items per request when compute_score_async sends the calls of one loop turn together.
BATCH = 256
_executor: ThreadPoolExecutor | None = None
_executor_pid = -1
_batchers: dict[int, _Batcher] = {}


def _pool() -> ThreadPoolExecutor:
    global _executor, _executor_pid
    if _executor is None or _executor_pid != os.getpid():
        _executor, _executor_pid = ThreadPoolExecutor(16, thread_name_prefix="verirl-verl"), os.getpid()
    return _executor


class _Batcher:
    """The calls of one event-loop turn, sent as batch requests (one per BATCH items and per
    set of keyword arguments). verl's reward loop starts one ``run_single`` task per response
    and gathers them, so a whole step arrives in one turn: a 512-response step is two
    requests, not 512, and no call waits longer than one loop turn to be sent."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[tuple[tuple, dict, asyncio.Future]] = []

    def submit(self, args: tuple, kwargs: dict) -> asyncio.Future:
        fut = self.loop.create_future()
        if not self.waiting:
            self.loop.call_soon(self._flush)
        self.waiting.append((args, kwargs, fut))
        return fut

    def _flush(self) -> None:
        batch, self.waiting = self.waiting, []
        groups: dict[str, list[tuple[tuple, dict, asyncio.Future]]] = {}
        for call in batch:
            groups.setdefault(repr(sorted(call[1].items(), key=lambda kv: kv[0])), []).append(call)
        for calls in groups.values():
            for i in range(0, len(calls), BATCH):
                self.loop.create_task(self._send(calls[i : i + BATCH]))

    async def _send(self, calls: list[tuple[tuple, dict, asyncio.Future]]) -> None:
        kwargs = calls[0][1]
        cols = list(zip(*(c[0] for c in calls), strict=True))
        try:
            out = await self.loop.run_in_executor(
                _pool(), functools.partial(compute_score_batch, list(cols[0]), list(cols[1]), list(cols[2]), list(cols[3]), **kwargs)
            )
        except BaseException as exc:  # the callers see the same exception compute_score would raise
            for _, _, fut in calls:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, _, fut), res in zip(calls, out, strict=True):
            if not fut.done():
                fut.set_result(res)


async def compute_score_async(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The same as a coroutine, for verl's reward loop (it awaits coroutine functions).
    The calls of one loop turn go to the server together as batch requests (see
    ``_Batcher``); the result of each is what ``compute_score`` returns."""
    loop = asyncio.get_running_loop()
    b = _batchers.get(id(loop))
    if b is None or b.loop is not loop:
        b = _batchers[id(loop)] = _Batcher(loop)
    return await b.submit((data_source, solution_str, ground_truth, extra_info), kwargs)


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
