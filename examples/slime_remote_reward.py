"""The request slime's remote_rm sends to --rm-url (slime/rollout/rm_hub/__init__.py)."""

import os

import httpx

base = os.environ.get("VERIRL_URL", "http://127.0.0.1:8000")
headers = {"Authorization": f"Bearer {os.environ['VERIRL_API_KEY']}"} if os.environ.get("VERIRL_API_KEY") else {}
sample = {"prompt": "Solve x+1=3.", "response": "x = \\boxed{2}", "label": "2"}
number = httpx.post(base + "/slime/reward", json=sample, headers=headers, timeout=60)
number.raise_for_status()
print("reward:", number.json(), "verdict:", number.headers["x-verirl-verdict"])
detail = httpx.post(base + "/slime/reward?detail=true", json=sample, headers=headers, timeout=60).json()
print("detail:", detail)
assert number.json() == 1.0 and detail["verdict"] == "correct"
