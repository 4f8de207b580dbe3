"""verirl.Client: grade a GRPO-style group of rollouts and read the group statistics."""

from verirl import Client

rollouts = [
    "<think>1/2 of the pie</think> The answer is \\boxed{\\frac{1}{2}}",
    "<think>half</think> \\boxed{0.5}",
    "\\boxed{2}",
    "I am not sure.",
]
items = [{"id": f"r{i}", "completion": c, "answer": "1/2", "group": "prompt-1"} for i, c in enumerate(rollouts)]

with Client() as client:
    out = client.score(items, options={"reward": "r1"})

for r in out["results"]:
    print(f"{r['id']}: {r['verdict']:<10} reward={r['reward']}  {r['details'].get('reward_breakdown')}")
print("group:", out["groups"]["prompt-1"])
assert [r["verdict"] for r in out["results"]] == ["correct", "correct", "incorrect", "no_answer"]
assert out["groups"]["prompt-1"]["pass_rate"] == 0.5
