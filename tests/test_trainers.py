"""Each trainer's exact reward contract, against a real running server.

Payload shapes are taken from the trainers' own sources (quoted per test).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json

import httpx
import pytest

from tests.helpers import post

PROMPT = "<|im_start|>user\nWhat is 2+2? Put the answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"
RIGHT = "<think>2+2 is 4.</think>\nThe answer is \\boxed{4}.<|im_end|>"
WRONG = "<think>hmm</think>\nThe answer is \\boxed{5}.<|im_end|>"
ADD_PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
BAD_PROGRAM = "```python\nprint(0)\n```"
CODE_LABEL = json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]})


@pytest.fixture(autouse=True)
def _server_env(embedded_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIRL_URL", embedded_server)
    monkeypatch.delenv("VERIRL_API_KEY", raising=False)


# --------------------------------------------------------------------------- OpenRLHF

def test_openrlhf_batch_contract(embedded_server: str) -> None:
    # openrlhf/utils/remote_rm_utils.py: remote_rm_fn_ray posts
    # {"query": queries, "prompts": prompts, "labels": labels}; the experience maker
    # reads r["rewards"], r["scores"] and r["extra_logs"] (per-sample lists).
    queries = [PROMPT + RIGHT, PROMPT + WRONG, "code prompt\n" + ADD_PROGRAM, "code prompt\n" + BAD_PROGRAM]
    prompts = [PROMPT, PROMPT, "code prompt\n", "code prompt\n"]
    labels = ["4", "4", CODE_LABEL, CODE_LABEL]
    r = post(embedded_server, "/get_reward", {"query": queries, "prompts": prompts, "labels": labels})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [1.0, 0.0, 1.0, 0.0]
    assert body["scores"] == [1.0, 0.0, 1.0, 0.0]
    assert set(body["extra_logs"]) >= {"correct", "undecided", "accuracy"}
    for v in body["extra_logs"].values():
        assert len(v) == 4 and all(isinstance(x, float) for x in v)
    assert body["verdicts"] == ["correct", "incorrect", "correct", "incorrect"]


def test_openrlhf_single_sample_and_shaping(embedded_server: str) -> None:
    # A single-sample request (n=1) with a DAPO-style spec passed on the URL.
    url = "/get_reward?reward=" + httpx.QueryParams({"r": json.dumps({"accuracy": {"weight": 1, "wrong": -1}, "format": {"weight": 0.5, "pattern": "think"}})})["r"]
    r = post(embedded_server, url, {"query": PROMPT + WRONG, "prompts": PROMPT, "labels": "4"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [-0.5]  # -1 wrong + 0.5 format
    assert body["extra_logs"]["format"] == [0.5] and body["extra_logs"]["accuracy"] == [-1.0]


def test_openrlhf_undecided_is_flagged_not_silent(embedded_server: str) -> None:
    # A sample whose label is missing cannot be decided: failure_reward, flagged per sample.
    r = post(embedded_server, "/get_reward?failure_reward=-0.25", {"query": [PROMPT + RIGHT] * 2, "prompts": [PROMPT] * 2, "labels": ["4", None]})
    assert r.status_code == 200
    body = r.json()
    assert body["rewards"] == [1.0, -0.25] and body["extra_logs"]["undecided"] == [0.0, 1.0]
    assert body["verdicts"] == ["correct", "error"]
    # Old OpenRLHF sends only {"query": [...]} (no --label_key): a clear 422, not zeros.
    r = post(embedded_server, "/get_reward", {"query": [PROMPT + RIGHT]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "labels"


def test_openrlhf_mismatched_lengths_is_422(embedded_server: str) -> None:
    r = post(embedded_server, "/get_reward", {"query": ["a", "b"], "prompts": ["a"], "labels": ["1", "2"]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "prompts"
    r = post(embedded_server, "/get_reward?reward=nope", {"query": ["a"], "labels": ["1"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "options.reward"


# --------------------------------------------------------------------------- slime

def test_slime_remote_reward(embedded_server: str) -> None:
    # slime/rollout/rm_hub/__init__.py: remote_rm posts {"prompt", "response", "label"}
    # to args.rm_url and uses `await resp.json()` as the reward (a number, or a dict
    # read with --reward-key).
    r = post(embedded_server, "/slime/reward", {"prompt": PROMPT, "response": RIGHT, "label": "4"})
    assert r.status_code == 200 and r.json() == 1.0
    assert r.headers["x-verirl-verdict"] == "correct"
    r = post(embedded_server, "/slime/reward", {"prompt": PROMPT, "response": WRONG, "label": "4"})
    assert r.json() == 0.0 and r.headers["x-verirl-verdict"] == "incorrect"
    r = post(embedded_server, "/slime/reward?detail=true", {"prompt": "p", "response": ADD_PROGRAM, "label": CODE_LABEL})
    d = r.json()
    assert d["score"] == 1.0 and d["verdict"] == "correct" and d["breakdown"]["accuracy"] == 1.0
    r = post(embedded_server, "/slime/reward", {"prompt": "p", "response": RIGHT, "label": None})
    assert r.status_code == 422 and r.json()["error"]["field"] == "label"
    # A verification that cannot finish in its budget is `timeout`, never a silent 0.
    label = {"answer": "4", "options": {"timeout_s": 1e-9}}
    r = post(embedded_server, "/slime/reward?detail=true&failure_reward=-1", {"prompt": "p", "response": "\\boxed{4}", "label": label})
    assert r.status_code == 200 and r.json()["verdict"] == "timeout" and r.json()["score"] == -1.0
    assert r.headers["x-verirl-verdict"] == "timeout"


# --------------------------------------------------------------------------- verl

def _load_verl_fn(name: str):
    # verl/trainer/ppo/reward.py get_custom_reward_fn: spec_from_file_location on
    # custom_reward_function.path, then getattr(module, custom_reward_function.name).
    import verirl.integrations.verl as mod

    spec = importlib.util.spec_from_file_location("custom_module", mod.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_verl_compute_score_as_naive_manager_calls_it() -> None:
    # verl/workers/reward_manager/naive.py: self.compute_score(data_source=..., solution_str=...,
    # ground_truth=..., extra_info=...); a dict result gives score["score"] as the reward
    # and every other key goes into reward_extra_info.
    fn = _load_verl_fn("compute_score")
    res = fn(data_source="openai/gsm8k", solution_str="The answer is \\boxed{4}", ground_truth="4", extra_info={"index": 0})
    assert res["score"] == 1.0 and res["acc"] == 1.0 and res["verdict"] == "correct" and res["pred"] == "4"
    res = fn(data_source="openai/gsm8k", solution_str="\\boxed{5}", ground_truth="4", extra_info=None)
    assert res["score"] == 0.0 and res["verdict"] == "incorrect"
    code = fn(data_source="codecontests", solution_str=ADD_PROGRAM, ground_truth=CODE_LABEL, extra_info=None)
    assert code["score"] == 1.0 and code["verdict"] == "correct"
    undecided = fn(data_source="x", solution_str="\\boxed{4}", ground_truth=None, failure_score=-1.0)
    assert undecided["score"] == -1.0 and undecided["undecided"] == 1.0 and undecided["verdict"] == "error"
    assert set(res) == set(code) == set(undecided)  # same keys for every item


def test_verl_batch_manager_signature() -> None:
    # verl/workers/reward_manager/batch.py: self.compute_score(data_sources=..., solution_strs=...,
    # ground_truths=..., extra_infos=..., **reward_kwargs)
    fn = _load_verl_fn("compute_score_batch")
    out = fn(
        data_sources=["a", "a", "b"],
        solution_strs=["\\boxed{4}", "\\boxed{3}", ADD_PROGRAM],
        ground_truths=["4", "4", {"inputs": ["2 2\n"], "outputs": ["4\n"]}],
        extra_infos=[None, None, None],
        reward="dapo",
    )
    assert [o["score"] for o in out] == [1.0, -1.0, 1.0]
    assert [o["verdict"] for o in out] == ["correct", "incorrect", "correct"]


# --------------------------------------------------------------------------- TRL

def test_trl_reward_function_standard_and_conversational() -> None:
    # trl/trainer/grpo_trainer.py _calculate_rewards: reward_func(prompts=prompts,
    # completions=completions, completion_ids=completion_ids_list, **reward_kwargs), where
    # reward_kwargs are the dataset columns other than "prompt" plus trainer_state.
    from verirl.integrations.trl import VerirlReward

    fn = VerirlReward()
    assert fn.__name__ == "verirl"
    out = fn(
        prompts=["q1", "q1", "q2"],
        completions=["\\boxed{4}", "\\boxed{5}", "\\boxed{x^2}"],
        completion_ids=[[1, 2], [1], [3]],
        answer=["4", "4", "x^2"],
        trainer_state=None,
    )
    assert out == [1.0, 0.0, 1.0]
    conv = fn(
        prompts=[[{"role": "user", "content": "2+2?"}]] * 2,
        completions=[[{"role": "assistant", "content": "\\boxed{4}"}], [{"role": "assistant", "content": "\\boxed{22}"}]],
        solution=["4", "4"],
    )
    assert conv == [1.0, 0.0]
    named = VerirlReward(answer_column="gold")(prompts=["p"], completions=["\\boxed{7}"], gold=["7"], answer=["8"])
    assert named == [1.0]
    # Undecided -> None (TRL turns it into NaN and leaves it out of the mean).
    assert fn(prompts=["p", "p"], completions=["\\boxed{1}", "\\boxed{1}"], answer=[None, "1"]) == [None, 1.0]
    with pytest.raises(KeyError, match="ground-truth column"):
        fn(prompts=["p"], completions=["x"], question=["q"])


def test_trl_async_reward_function() -> None:
    from verirl.integrations.trl import AsyncVerirlReward

    fn = AsyncVerirlReward(reward="r1")
    assert asyncio.iscoroutinefunction(fn)  # how TRL detects async reward functions

    async def go():
        return await fn(prompts=["p", "p"], completions=["<think>a</think> \\boxed{4}", "\\boxed{4}"], answer=["4", "4"])

    assert asyncio.run(go()) == [1.5, 1.0]


def test_grpo_groups_flag_zero_variance_over_http(embedded_server: str) -> None:
    """16 rollouts of one prompt all scored the same are `zero_variance` (DAPO drops them); a mixed group is not."""
    same = [{"id": f"s{k}", "completion": f"\\boxed{{{5 + k % 3}}}", "answer": "4", "group": "all-wrong"} for k in range(16)]
    mixed = [{"id": f"m{k}", "completion": f"\\boxed{{{4 if k % 4 else 9}}}", "answer": "4", "group": "mixed"} for k in range(16)]
    r = post(embedded_server, "/v1/score", {"items": same + mixed})
    g = r.json()["groups"]
    assert g["all-wrong"] == {"size": 16, "mean": 0.0, "std": 0.0, "pass_rate": 0.0, "zero_variance": True, "failures": 0}
    assert g["mixed"]["zero_variance"] is False and g["mixed"]["pass_rate"] == 0.75
    assert g["mixed"]["mean"] == 0.75 and abs(g["mixed"]["std"] - (0.75 * 0.25) ** 0.5) < 1e-9
