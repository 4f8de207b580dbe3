"""verirl as verl's custom_reward_function, called as verl's reward managers call it.

In the verl config (verl >= 0.7, reward loop, reward_model.reward_manager=naive or dapo):
    custom_reward_function.path=pkg://verirl.integrations.verl
    custom_reward_function.name=compute_score_async
    custom_reward_function.reward_kwargs={reward: dapo}
PrimeRewardManager: name=compute_score_prime. Legacy BatchRewardManager: name=compute_score_batch.
"""

import asyncio
import functools
import importlib
import pickle

# verl/utils/import_utils.py load_module: "pkg://verirl.integrations.verl" is importlib.import_module.
module = importlib.import_module("verirl.integrations.verl")
# verl/trainer/ppo/reward.py get_custom_reward_fn binds reward_kwargs (they win over call kwargs).
reward_kwargs = {"reward": "dapo", "failure_score": 0.0}


async def run_single(solution_str: str, ground_truth: str) -> float:
    # The reward loop's NaiveRewardManager.run_single awaits a coroutine compute_score.
    result = await module.compute_score_async(
        data_source="openai/gsm8k", solution_str=solution_str, ground_truth=ground_truth, extra_info={"index": 0}, **reward_kwargs
    )
    return result["score"]


async def step() -> list[float]:  # the reward loop gathers one task per response
    return await asyncio.gather(run_single("... so \\boxed{18}", "18"), run_single("\\boxed{17}", "18"), run_single("\\boxed{18}", ""))


scores = asyncio.run(step())
print("reward loop (naive):", scores)
assert scores == [1.0, -1.0, 0.0]  # dapo: +1/-1; an empty label is an `error` verdict scored failure_score

# A full result: `score` plus reward_extra_info keys, the same for every item.
res = module.compute_score(data_source="openai/gsm8k", solution_str="\\boxed{18}", ground_truth="", extra_info=None)
print("empty label:", res)
assert res["verdict"] == "error" and res["error_code"] == "invalid_label" and res["undecided"] == 1.0

# PrimeRewardManager pickles the function into a process pool and reads a number.
prime = pickle.loads(pickle.dumps(functools.partial(module.compute_score_prime)))
print("prime:", prime("openai/gsm8k", "\\boxed{18}", "18", None))
assert prime("openai/gsm8k", "\\boxed{18}", "18", None) == 1.0

# Legacy BatchRewardManager (verl < 0.7): one call per batch.
batch = module.compute_score_batch(
    data_sources=["openai/gsm8k"] * 3,
    solution_strs=["\\boxed{18}", "\\boxed{17}", "no answer here"],
    ground_truths=["18", "18", "18"],
    extra_infos=[None] * 3,
    reward="dapo",
)
print("batch:", [(b["score"], b["verdict"]) for b in batch])
assert [b["score"] for b in batch] == [1.0, -1.0, -1.0]
