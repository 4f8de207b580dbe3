"""The request OpenRLHF sends to --reward.remote_url (openrlhf/utils/remote_rm_utils.py)."""

import json
import os

import httpx

url = os.environ.get("VERIRL_URL", "http://127.0.0.1:8000") + "/get_reward"
prompt = "<|im_start|>user\nWhat is 6*7?<|im_end|>\n<|im_start|>assistant\n"
code_prompt = "<|im_start|>user\nRead a and b, print a+b.<|im_end|>\n<|im_start|>assistant\n"
program = "```python\na, b = map(int, input().split())\nprint(a + b)\n```<|im_end|>"
body = {
    "query": [prompt + "<think>6*7=42</think> \\boxed{42}<|im_end|>", prompt + "\\boxed{48}<|im_end|>", code_prompt + program],
    "prompts": [prompt, prompt, code_prompt],
    "labels": ["42", "42", json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})],
}
headers = {"Authorization": f"Bearer {os.environ['VERIRL_API_KEY']}"} if os.environ.get("VERIRL_API_KEY") else {}
r = httpx.post(url + "?reward=r1", json=body, headers=headers, timeout=180)
r.raise_for_status()
out = r.json()
print(json.dumps(out, indent=1))
assert out["rewards"] == [1.5, 0.0, 1.0]  # r1: accuracy + 0.5 for <think>...</think> then an answer
assert out["scores"] == [1.0, 0.0, 1.0]

# Current OpenRLHF (openrlhf/utils/agent.py) sends one item per request. With an R1-distill
# template the prompt opens <think>: a response cut off mid-thought has no answer.
r1_prompt = "<｜User｜>What is 6*7?<｜Assistant｜><think>\n"
one = httpx.post(url, json={"query": [r1_prompt + "6*7 is 42.\n</think>\n\\boxed{42}"], "prompts": [r1_prompt], "labels": ["42"]}, headers=headers, timeout=180).json()
cut = httpx.post(url, json={"query": [r1_prompt + "maybe \\boxed{42}? let me check 6*7"], "prompts": [r1_prompt], "labels": ["42"]}, headers=headers, timeout=180).json()
print("one item:", one["rewards"], one["verdicts"], "| cut off:", cut["rewards"], cut["verdicts"])
assert one["rewards"] == [1.0] and cut["verdicts"] == ["no_answer"]
# Without --label_key OpenRLHF sends "" as the label: an `error` verdict naming the fix, not a silent 0.
empty = httpx.post(url, json={"query": [prompt + "\\boxed{42}"], "prompts": [prompt], "labels": [""]}, headers=headers, timeout=180).json()
print("empty label:", empty["verdicts"], empty["errors"][0]["message"])
assert empty["extra_logs"]["undecided"] == [1.0] and empty["errors"][0]["code"] == "invalid_label"
