"""verl reward function backed by a verirl server.

In a verl config (``verl/trainer/config/ppo_trainer.yaml``: ``custom_reward_function``)::

    custom_reward_function:
      path: <site-packages>/verirl/integrations/verl.py   # python -c "import verirl.integrations.verl as m; print(m.__file__)"
      name: compute_score            # NaiveRewardManager / DAPORewardManager / PrimeRewardManager
      # name: compute_score_batch    # with reward_model.reward_manager=batch
      reward_kwargs: {reward: dapo}  # optional: a preset or spec, failure_score, task

``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)``
returns a dict: ``score`` (the reward verl uses) and, for verl's
``reward_extra_info`` logging, ``acc``, ``verdict``, ``pred``, ``undecided`` and
the reward terms (``accuracy``, ``format``, ``length``, ``repetition``). Every
item gets the same keys.

verl needs a number for every response, so an item we could not decide
(``timeout``/``error``) scores ``failure_score`` (default 0.0, env
``VERIRL_FAILURE_SCORE``) and carries ``undecided: 1.0`` and its verdict, so it
is never a silent 0 in the logs. The ground truth is a math answer, a code
label (``{"inputs", "outputs"}`` / verirl ``tests``, possibly as a JSON string;
see :mod:`verirl.labels`), or an instruction-following ground truth; a
``data_source`` such as ``ifeval`` or ``triviaqa`` picks the instruction or QA task. Server address: ``VERIRL_URL``; key: ``VERIRL_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from verirl.integrations._common import flat_result, request_options, score_items, shared_client
from verirl.labels import item_from_label, task_of_source


def _failure_score(kwargs: dict) -> float:
    if kwargs.get("failure_score") is not None:
        return float(kwargs["failure_score"])
    return float(os.environ.get("VERIRL_FAILURE_SCORE", "0.0"))


def _item(data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any, task: str | None, i: int) -> dict:
    item = item_from_label(solution_str or "", ground_truth, id=str(i), task=task or task_of_source(data_source))
    if isinstance(extra_info, dict):
        if extra_info.get("problem_id") is not None and "problem_id" not in item:
            item["problem_id"] = str(extra_info["problem_id"])
        if isinstance(extra_info.get("num_tokens"), int):
            item["num_tokens"] = extra_info["num_tokens"]
    return item


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """verl's BatchRewardManager signature: one request for the whole batch."""
    n = len(solution_strs)
    extras = list(extra_infos) if extra_infos is not None else [None] * n
    task = kwargs.get("task")
    items = [
        _item(ds, s, gt, ex, task, i)
        for i, (ds, s, gt, ex) in enumerate(zip(data_sources, solution_strs, ground_truths, extras, strict=True))
    ]
    client = shared_client(kwargs.get("url"), kwargs.get("api_key"))
    opts = request_options(kwargs.get("reward"), kwargs.get("options"))
    out = score_items(client, items, opts)
    fail = _failure_score(kwargs)
    return [flat_result(r, fail) for r in out["results"]]


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """verl's per-response reward function signature (NaiveRewardManager and friends)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]
