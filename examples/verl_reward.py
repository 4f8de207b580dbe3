"""verirl as verl's custom_reward_function, called as verl's reward managers call it.

In the verl config:
    custom_reward_function.path=<this package>/verirl/integrations/verl.py
    custom_reward_function.name=compute_score        (or compute_score_batch with reward_manager=batch)
"""

import importlib.util

import verirl.integrations.verl as integration

# verl/trainer/ppo/reward.py loads the file by path, exactly like this:
spec = importlib.util.spec_from_file_location("custom_module", integration.__file__)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

# NaiveRewardManager: one call per response.
res = module.compute_score(data_source="openai/gsm8k", solution_str="... so \\boxed{18}", ground_truth="18", extra_info={"split": "train"})
print("naive:", res)
assert res["score"] == 1.0 and res["verdict"] == "correct"

# BatchRewardManager: one call per batch.
batch = module.compute_score_batch(
    data_sources=["openai/gsm8k"] * 3,
    solution_strs=["\\boxed{18}", "\\boxed{17}", "no answer here"],
    ground_truths=["18", "18", "18"],
    extra_infos=[None] * 3,
    reward="dapo",
)
print("batch:", [(b["score"], b["verdict"]) for b in batch])
assert [b["score"] for b in batch] == [1.0, -1.0, -1.0]
