"""verirl as a TRL GRPOTrainer reward function.

With TRL installed, training is:

    from trl import GRPOConfig, GRPOTrainer
    trainer = GRPOTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", reward_funcs=VerirlReward(),
                          args=GRPOConfig(output_dir="out", num_generations=4), train_dataset=dataset)
    trainer.train()

Here we call the reward function the way GRPOTrainer does (trl/trainer/grpo_trainer.py),
with a conversational dataset whose ground truth is in an "answer" column.
"""

import asyncio

from verirl.integrations.trl import AsyncVerirlReward, VerirlReward

prompts = [[{"role": "user", "content": "What is 3^2?"}]] * 4
completions = [
    [{"role": "assistant", "content": "<think>3*3</think> \\boxed{9}"}],
    [{"role": "assistant", "content": "\\boxed{6}"}],
    [{"role": "assistant", "content": "nine, so \\boxed{9}"}],
    [{"role": "assistant", "content": "<think>never finished"}],
]
columns = {"answer": ["9"] * 4, "trainer_state": None}

reward = VerirlReward(reward="r1")
rewards = reward(prompts=prompts, completions=completions, completion_ids=[[0] * 10] * 4, **columns)
print(reward.__name__, rewards)
assert rewards == [1.5, 0.0, 1.0, 0.0]

areward = AsyncVerirlReward()
print("async:", asyncio.run(areward(prompts=prompts, completions=completions, **columns)))
