"""TRL reward functions backed by a verirl server.

    from trl import GRPOTrainer
    from verirl.integrations.trl import VerirlReward

    trainer = GRPOTrainer(model=..., reward_funcs=VerirlReward(), train_dataset=ds)

``VerirlReward()(prompts, completions, **dataset_columns)`` returns one reward
per completion, as TRL calls reward functions
(``trl/trainer/grpo_trainer.py``: ``reward_func(prompts=..., completions=...,
completion_ids=..., **reward_kwargs)``). The ground truth is read from the
``answer`` column, else ``solution``, ``ground_truth``, ``constraints``, else the
column named in the constructor; a code label (a public dataset's test columns,
see :mod:`verirl.code.labels`, or verirl ``tests``) works too, and so do instruction constraints (IFEval's
``instruction_id_list`` + ``kwargs`` columns, or open-instruct's ground truth).
Conversational completions (lists of messages) are graded on the last
assistant message. ``completion_ids`` give the token length for length
shaping (else a local ``tokenizer=`` path; else words). An item we could not
decide, or whose label is unusable (missing, empty: ``invalid_label``, warned
once per process), returns ``None``: TRL treats it as NaN and leaves it out
of the mean rather than counting a silent 0. ``think="open"`` tells that the
chat template opens ``<think>`` (R1-distill), which TRL's untemplated prompts
cannot show; ``auto`` (default) reads it from a templated string prompt.

:class:`AsyncVerirlReward` is the same as a coroutine function (TRL runs
those concurrently on its own event loop).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from verirl.client import AsyncClient
from verirl.integrations._common import (
    Entry,
    ascore_items,
    prepare,
    request_options,
    score_items,
    shared_client,
)

_GT_COLUMNS = ("answer", "solution", "ground_truth", "constraints")


def _text(x: Any) -> str:
    """A completion or prompt as text: a string, or the last assistant (or last) message's content."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x:
        msgs = [m for m in x if isinstance(m, dict)]
        for m in reversed(msgs):
            if m.get("role") == "assistant":
                return _content(m.get("content"))
        return _content(msgs[-1].get("content")) if msgs else ""
    if isinstance(x, dict):
        return _content(x.get("content"))
    return "" if x is None else str(x)


def _content(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # multimodal content parts
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return "" if c is None else str(c)


class _Base:
    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        answer_column: str | None = None,
        task: str | None = None,
        reward: Any = None,
        options: dict | None = None,
        timeout: float = 600.0,
        name: str = "verirl",
        think: str | None = None,
        tokenizer: str | None = None,
    ) -> None:
        self.url, self.api_key, self.timeout = url, api_key, timeout
        self.think, self.tokenizer = think, tokenizer
        self.answer_column = answer_column
        self.task = task
        self.options = request_options(reward, options)
        self.__name__ = name  # TRL logs each reward function under its __name__

    def _ground_truth(self, kwargs: dict, n: int) -> list[Any]:
        if not self.answer_column and kwargs.get("instruction_id_list") is not None and not any(c in kwargs for c in _GT_COLUMNS):
            # IFEval/IFBench rows: instruction_id_list and kwargs columns make the constraint label
            ids, kws = list(kwargs["instruction_id_list"]), kwargs.get("kwargs")
            kws = list(kws) if kws is not None else [None] * len(ids)
            return [{"instruction_id_list": i, "kwargs": k} for i, k in zip(ids, kws, strict=True)]
        cols = (self.answer_column,) if self.answer_column else _GT_COLUMNS
        for c in cols:
            if c in kwargs and kwargs[c] is not None:
                v = kwargs[c]
                v = list(v) if isinstance(v, list | tuple) else [v] * n
                if len(v) != n:
                    raise ValueError(f"column {c!r} has {len(v)} values for {n} completions")
                return v
        raise KeyError(
            f"no ground-truth column: expected one of {list(cols)} among the dataset columns {sorted(kwargs)}"
        )

    def _prepare(self, prompts: Sequence[Any] | None, completions: Sequence[Any], completion_ids: Any, kwargs: dict) -> Any:
        n = len(completions)
        gts = self._ground_truth(kwargs, n)
        entries = []
        for i, (c, gt) in enumerate(zip(completions, gts, strict=True)):
            prompt = _text(prompts[i]) if prompts is not None and i < len(prompts) else None
            ids = completion_ids[i] if completion_ids is not None and i < len(completion_ids) else None
            entries.append(Entry(_text(c), gt, prompt, None, len(ids) if ids is not None else None))

        def group_of(i: int) -> str | None:
            if prompts is None or i >= len(prompts):
                return None
            return hashlib.blake2b(_text(prompts[i]).encode(), digest_size=8).hexdigest()

        return prepare(entries, hint="trl", task=self.task, think=self.think, tokenizer=self.tokenizer, group_of=group_of)

    @staticmethod
    def _rewards(results: list[dict]) -> list[float | None]:
        return [None if r["reward"] is None else float(r["reward"]) for r in results]


class VerirlReward(_Base):
    """Synchronous TRL reward function (a callable object with a ``__name__``)."""

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float | None]:
        if not completions:
            return []
        p = self._prepare(prompts, completions, completion_ids, kwargs)
        out = score_items(shared_client(self.url, self.api_key, self.timeout, integration="trl"), p.items, self.options, p)
        return self._rewards(p.merge(out))


class AsyncVerirlReward(_Base):
    """Asynchronous TRL reward function: ``asyncio.iscoroutinefunction(obj)`` is true."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Mark the instance as a coroutine function for asyncio/inspect (TRL checks
        # asyncio.iscoroutinefunction(reward_func) to run it on its event loop).
        self._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]

    def _get_client(self) -> AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = AsyncClient(self.url, self.api_key, timeout=self.timeout, integration="trl")
            self._loop = loop
        return self._client

    async def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), completion_ids: Any = None, **kwargs: Any) -> list[float | None]:
        if not completions:
            return []
        p = self._prepare(prompts, completions, completion_ids, kwargs)
        out = await ascore_items(self._get_client(), p.items, self.options, p)
        return self._rewards(p.merge(out))
