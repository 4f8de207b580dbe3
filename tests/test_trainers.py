"""Each trainer's exact reward contract, against a real running server.

Two kinds of test:

* **Replays** (always run): the request each trainer sends, built as its source
  builds it (path and commit quoted per test), posted to a real server.
* **Their own code** (run when a fetched copy of the trainer's repository is
  present under ``$VERIRL_TRAINER_MIRRORS``, default ``/work/.mirror``; skipped
  with the reason otherwise): the trainer's client functions, taken unchanged
  from its source with ``git show`` and called against the real server. Their
  code is never committed here.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers import post

PROMPT = "<|im_start|>user\nWhat is 2+2? Put the answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"
RIGHT = "<think>2+2 is 4.</think>\nThe answer is \\boxed{4}.<|im_end|>"
WRONG = "<think>hmm</think>\nThe answer is \\boxed{5}.<|im_end|>"
ADD_PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
BAD_PROGRAM = "```python\nprint(0)\n```"
CODE_LABEL = json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]})

# DeepSeek-R1-Distill's chat template ends the prompt inside an open think block.
R1_PROMPT = "<｜begin▁of▁sentence｜><｜User｜>What is 2+2? Put the answer in \\boxed{}.<｜Assistant｜><think>\n"
R1_CUT_OFF = "Let me try 5 first: maybe \\boxed{5}? No wait, 2+2"  # truncated mid-thought: no answer
R1_CUT_OFF_RIGHT = "Maybe the answer is \\boxed{4}, let me double-check"  # still thinking: not an answer
R1_DONE = "2+2 is 4.\n</think>\n\nThe answer is \\boxed{4}.<｜end▁of▁sentence｜>"

BAD_LABELS = ["", "   \n\t", '{"answer": 4', {"foo": 1}, [], None]

MIRRORS = Path(os.environ.get("VERIRL_TRAINER_MIRRORS", "/work/.mirror"))
# The commits read for these tests (the fetched snapshots).
OPENRLHF = ("OpenRLHF+OpenRLHF", "3c3be6234e0cb353e76bb8019947db9dfe99fca7")
OPENRLHF_LEGACY = ("OpenRLHF+OpenRLHF", "62987083^")  # the last commit with openrlhf/utils/remote_rm_utils.py
SLIME = ("THUDM+slime", "624b824a898ab0ec1fcb4d373004c7f3852bf515")
VERL = ("volcengine+verl", "b178a3cd56f58b2d502255daba591e92833930a7")


@pytest.fixture(autouse=True)
def _server_env(embedded_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIRL_URL", embedded_server)
    monkeypatch.delenv("VERIRL_API_KEY", raising=False)


def _their_source(source: tuple[str, str], path: str) -> str:
    repo = MIRRORS / source[0] / "repo"
    if not repo.exists():
        pytest.skip(f"no fetched copy of {source[0]} under {MIRRORS} (set VERIRL_TRAINER_MIRRORS); the replay tests cover its shape")
    try:
        return subprocess.run(
            ["git", "-C", str(repo), "show", f"{source[1]}:{path}"], check=True, capture_output=True, text=True
        ).stdout
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"{source[0]} copy lacks {path} at {source[1]}: {exc.stderr.strip()[:200]}")


def _their_functions(source: tuple[str, str], path: str, names: list[str], namespace: dict) -> dict:
    """The named top-level functions (and assignments) of a trainer's file, unchanged, exec'd into ``namespace``."""
    tree = ast.parse(_their_source(source, path))
    keep = [
        n for n in tree.body
        if (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in names)
        or (isinstance(n, ast.Assign | ast.AnnAssign) and any(isinstance(t, ast.Name) and t.id in names for t in (n.targets if isinstance(n, ast.Assign) else [n.target])))
    ]
    for n in keep:  # their decorators (ray.remote, register) are not part of the calling convention
        if hasattr(n, "decorator_list"):
            n.decorator_list = []
    found = {getattr(n, "name", None) for n in keep}
    found |= {t.id for n in keep for t in (n.targets if isinstance(n, ast.Assign) else [getattr(n, "target", None)]) if isinstance(t, ast.Name)}
    assert set(names) <= found, f"{path} no longer defines {set(names) - found}"
    exec(compile(ast.Module(body=keep, type_ignores=[]), f"{source[0]}:{path}", "exec"), namespace)  # noqa: S102
    return namespace


class _Log:
    def info(self, *a: object, **k: object) -> None: ...
    warning = error = debug = info


# --------------------------------------------------------------------------- OpenRLHF

def test_openrlhf_batch_contract(embedded_server: str) -> None:
    # openrlhf/utils/remote_rm_utils.py (legacy, at OPENRLHF_LEGACY): remote_rm_fn_ray posts
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


def test_openrlhf_current_one_item_shape(embedded_server: str) -> None:
    # openrlhf/utils/agent.py (OPENRLHF) SingleTurnAgentExecutor.execute: query =
    # hf_tokenizer.decode(observation_tokens, skip_special_tokens=False), then
    # _fetch_rewards_via_http([query], [prompt], [label]) posts one item per request and
    # reads rewards_info.get("scores") / get("rewards") / get("extra_logs").
    for query, label, want in [(PROMPT + RIGHT, "4", 1.0), (PROMPT + WRONG, "4", 0.0), (R1_PROMPT + R1_DONE, "4", 1.0)]:
        prompt = R1_PROMPT if query.startswith(R1_PROMPT) else PROMPT
        r = post(embedded_server, "/get_reward", {"query": [query], "prompts": [prompt], "labels": [label]})
        assert r.status_code == 200, r.text
        info = r.json()
        assert info["rewards"] == [want] and info["scores"] == [want] and info["extra_logs"]["undecided"] == [0.0]


@pytest.mark.parametrize("label", BAD_LABELS, ids=repr)
def test_openrlhf_bad_label_is_an_error_verdict_not_a_4xx(embedded_server: str, label: object) -> None:
    # OpenRLHF without --label_key sends "" for every label; a 4xx would make it retry 5 times
    # and raise. Each one-item request answers 200: failure_reward, undecided, the fix named.
    r = post(embedded_server, "/get_reward?failure_reward=-0.25", {"query": [PROMPT + RIGHT], "prompts": [PROMPT], "labels": [label]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [-0.25] and body["scores"] == [0.0] and body["extra_logs"]["undecided"] == [1.0]
    assert body["verdicts"] == ["error"]
    err = body["errors"][0]
    assert err["code"] == "invalid_label" and err["field"] == "labels[0]"
    assert "--label_key" in err["message"]


def test_openrlhf_missing_labels_and_mixed_batches(embedded_server: str) -> None:
    # Old OpenRLHF sends only {"query": [...]}: 200, every item `error` naming --label_key.
    r = post(embedded_server, "/get_reward", {"query": [PROMPT + RIGHT]})
    assert r.status_code == 200, r.text
    assert r.json()["verdicts"] == ["error"] and "--label_key" in r.json()["errors"][0]["message"]
    # One bad label never fails the others; the default failure_reward is the neutral 0.0.
    r = post(embedded_server, "/get_reward", {"query": [PROMPT + RIGHT] * 3, "prompts": [PROMPT] * 3, "labels": ["4", " ", None]})
    body = r.json()
    assert body["rewards"] == [1.0, 0.0, 0.0] and body["verdicts"] == ["correct", "error", "error"]
    assert body["extra_logs"]["undecided"] == [0.0, 1.0, 1.0] and body["errors"][0] is None
    # A label whose tests are malformed: still 200 with an error verdict naming the field.
    bad_tests = json.dumps({"tests": {"format": "bogus"}})
    r = post(embedded_server, "/get_reward", {"query": ["p\n" + ADD_PROGRAM], "prompts": ["p\n"], "labels": [bad_tests]})
    assert r.status_code == 200 and r.json()["verdicts"] == ["error"] and "tests" in r.json()["errors"][0]["field"]


def test_label_errors_are_counted_and_warned_once(embedded_server: str) -> None:
    def count() -> float:
        text = httpx.get(embedded_server + "/metrics").text
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("verirl_label_errors_total{"))

    before = count()
    post(embedded_server, "/get_reward", {"query": ["a", "b"], "prompts": ["", ""], "labels": ["", ""]})
    post(embedded_server, "/slime/reward", {"prompt": "p", "response": "x", "label": ""})
    assert count() == before + 3


def test_openrlhf_request_errors_stay_4xx(embedded_server: str) -> None:
    # A malformed body (not a label problem) is still a 4xx naming the field.
    r = post(embedded_server, "/get_reward", {"query": ["a", "b"], "prompts": ["a"], "labels": ["1", "2"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "prompts"
    r = post(embedded_server, "/get_reward?reward=nope", {"query": ["a"], "labels": ["1"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "options.reward"
    r = post(embedded_server, "/get_reward?think=maybe", {"query": ["a"], "labels": ["1"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "query.think"
    r = post(embedded_server, "/get_reward", {"prompts": ["a"]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "query"


def test_openrlhf_shaping_on_the_url(embedded_server: str) -> None:
    url = "/get_reward?reward=" + httpx.QueryParams({"r": json.dumps({"accuracy": {"weight": 1, "wrong": -1}, "format": {"weight": 0.5, "pattern": "think"}})})["r"]
    r = post(embedded_server, url, {"query": PROMPT + WRONG, "prompts": PROMPT, "labels": "4"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [-0.5]  # -1 wrong + 0.5 format
    assert body["extra_logs"]["format"] == [0.5] and body["extra_logs"]["accuracy"] == [-1.0]


def test_openrlhf_left_truncated_prompt_never_grades_few_shot(embedded_server: str) -> None:
    # agent.py truncates prompt_token_ids[-max_prompt_length:]: the decoded query starts
    # mid-prompt, so the prompt is not a prefix (nor inside) the query. The few-shot
    # example's \boxed{7} must not be graded.
    few_shot = "Example: what is 3+4? Answer: \\boxed{7}\n\n" * 3
    prompt = few_shot + PROMPT
    truncated_query = prompt[len(few_shot) + 5:] + "I am not sure."
    r = post(embedded_server, "/get_reward", {"query": [truncated_query], "prompts": [prompt], "labels": ["7"]})
    assert r.json()["verdicts"] == ["no_answer"], r.text
    # Truncated inside the few-shot block: still only the response is graded.
    truncated_query = prompt[40:] + "The answer is \\boxed{4}."
    r = post(embedded_server, "/get_reward", {"query": [truncated_query], "prompts": [prompt], "labels": ["7"]})
    assert r.json()["verdicts"] == ["incorrect"], r.text


def test_response_of_units() -> None:
    from verirl.labels import response_of

    p = "few shot \\boxed{2}\nQ: 1+1?\n<|im_start|>assistant\n"
    assert response_of(p + "hi", p) == "hi"
    assert response_of("<pad><pad>" + p + "hi", p) == "hi"
    assert response_of(p[12:] + "hi", p) == "hi"  # left-truncated
    assert response_of("<|im_start|>assistant\nhi", p) == "hi"  # only the last line survived
    assert response_of("hi \\boxed{3}", p) == "hi \\boxed{3}"  # no trace of the prompt: the whole text
    assert response_of("x", None) == "x"


@pytest.mark.parametrize("endpoint", ["/get_reward", "/slime/reward"])
def test_r1_distill_template_opens_thinking(embedded_server: str, endpoint: str) -> None:
    # A response cut off mid-thought has no <think> of its own (the template opened it):
    # its intermediate \boxed{} is not an answer. A finished one is graded after </think>.
    def ask(response: str, query: str = "") -> str:
        if endpoint == "/get_reward":
            r = post(embedded_server, endpoint + query, {"query": [R1_PROMPT + response], "prompts": [R1_PROMPT], "labels": ["4"]})
            return r.json()["verdicts"][0]
        r = post(embedded_server, endpoint + (query or "?") + "&detail=true", {"prompt": R1_PROMPT, "response": response, "label": "4"})
        return r.json()["verdict"]

    assert ask(R1_CUT_OFF_RIGHT) == "no_answer"
    assert ask(R1_CUT_OFF) == "no_answer"
    assert ask(R1_DONE) == "correct"
    # think=ignore grades the whole text (the per-endpoint override), think=open without a prompt.
    assert ask(R1_CUT_OFF_RIGHT, "?think=ignore") == "correct"
    r = post(embedded_server, "/slime/reward?think=open&detail=true", {"prompt": "", "response": R1_CUT_OFF_RIGHT, "label": "4"})
    assert r.json()["verdict"] == "no_answer"
    # A template that opened and closed thinking (thinking disabled) changes nothing.
    closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    r = post(embedded_server, "/slime/reward?detail=true", {"prompt": closed, "response": "\\boxed{4}", "label": "4"})
    assert r.json()["verdict"] == "correct"


def test_openrlhf_their_agent_client_unchanged(embedded_server: str) -> None:
    # openrlhf/utils/agent.py SingleTurnAgentExecutor._fetch_rewards_via_http, run unchanged.
    import aiohttp

    tree = ast.parse(_their_source(OPENRLHF, "openrlhf/utils/agent.py"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SingleTurnAgentExecutor")
    cls.bases = []  # AgentExecutorBase is an ABC with nothing this method uses
    space: dict = {"aiohttp": aiohttp, "asyncio": asyncio, "logger": _Log()}
    exec(compile(ast.Module(body=[cls], type_ignores=[]), "openrlhf/utils/agent.py", "exec"), space)  # noqa: S102
    ex = space["SingleTurnAgentExecutor"](remote_rm_url=embedded_server + "/get_reward")

    async def go(query: str, prompt: str, label: object) -> dict:
        [info] = await ex._fetch_rewards_via_http([query], [prompt], [label])
        return info

    assert asyncio.run(go(PROMPT + RIGHT, PROMPT, "4"))["rewards"] == [1.0]
    assert asyncio.run(go(R1_PROMPT + R1_CUT_OFF_RIGHT, R1_PROMPT, "4"))["rewards"] == [0.0]
    bad = asyncio.run(go(PROMPT + RIGHT, PROMPT, ""))  # no --label_key: one try, no retries, a flagged 0
    assert bad["rewards"] == [0.0] and bad["extra_logs"]["undecided"] == [1.0]


def test_openrlhf_legacy_batched_client_unchanged(embedded_server: str) -> None:
    # openrlhf/utils/remote_rm_utils.py request_api_wrapper (sync `requests`), run unchanged.
    import requests

    ns = _their_functions(OPENRLHF_LEGACY, "openrlhf/utils/remote_rm_utils.py", ["request_api_wrapper"],
                          {"requests": requests, "time": __import__("time"), "logger": _Log()})
    out = ns["request_api_wrapper"](embedded_server + "/get_reward", {"query": [PROMPT + RIGHT, PROMPT + WRONG, PROMPT], "prompts": [PROMPT] * 3, "labels": ["4", "4", ""]})
    assert out["rewards"] == [1.0, 0.0, 0.0] and out["verdicts"] == ["correct", "incorrect", "error"]


# --------------------------------------------------------------------------- slime

def test_slime_remote_reward(embedded_server: str) -> None:
    # slime/rollout/rm_hub/__init__.py (SLIME): remote_rm posts {"prompt", "response", "label"}
    # to args.rm_url and returns `await resp.json()` as the reward (a number, or a dict
    # read with --reward-key).
    r = post(embedded_server, "/slime/reward", {"prompt": PROMPT, "response": RIGHT, "label": "4"})
    assert r.status_code == 200 and r.json() == 1.0
    assert r.headers["x-verirl-verdict"] == "correct"
    r = post(embedded_server, "/slime/reward", {"prompt": PROMPT, "response": WRONG, "label": "4"})
    assert r.json() == 0.0 and r.headers["x-verirl-verdict"] == "incorrect"
    r = post(embedded_server, "/slime/reward?detail=true", {"prompt": "p", "response": ADD_PROGRAM, "label": CODE_LABEL})
    d = r.json()
    assert d["score"] == 1.0 and d["verdict"] == "correct" and d["breakdown"]["accuracy"] == 1.0
    # A verification that cannot finish in its budget is `timeout`, never a silent 0.
    label = {"answer": "4", "options": {"timeout_s": 1e-9}}
    r = post(embedded_server, "/slime/reward?detail=true&failure_reward=-1", {"prompt": "p", "response": "\\boxed{4}", "label": label})
    assert r.status_code == 200 and r.json()["verdict"] == "timeout" and r.json()["score"] == -1.0
    assert r.headers["x-verirl-verdict"] == "timeout"


def test_slime_request_errors_stay_4xx(embedded_server: str) -> None:
    # A malformed request (not a label problem) is a 4xx naming the field, from the fast path
    # (routes/compat.py TrainerFastPath) as from the FastAPI route it replays to.
    cases = [
        ("/slime/reward", {"prompt": "p", "label": "4"}, "response"),
        ("/slime/reward", {"prompt": "p", "response": 4, "label": "4"}, "response"),
        ("/slime/reward?detail=maybe", {"prompt": "p", "response": RIGHT, "label": "4"}, "query.detail"),
        ("/slime/reward?think=maybe", {"prompt": "p", "response": RIGHT, "label": "4"}, "query.think"),
        ("/slime/reward?reward=nope", {"prompt": "p", "response": RIGHT, "label": "4"}, "options.reward"),
        ("/slime/reward?tokenizer=nope", {"prompt": "p", "response": RIGHT, "label": "4"}, "query.tokenizer"),
        ("/get_reward?tokenizer=nope", {"query": [RIGHT], "labels": ["4"]}, "query.tokenizer"),
        ("/get_reward", {"query": [], "labels": []}, "query"),
    ]
    for path, body, field in cases:
        r = post(embedded_server, path, body)
        assert r.status_code == 422, (path, body, r.text)
        assert set(r.json()) == {"error"} and r.json()["error"]["code"] == "invalid_input", (path, r.text)
        assert r.json()["error"]["field"] == field, (path, body, r.text)
        assert r.headers.get("x-request-id"), path


@pytest.mark.parametrize("label", BAD_LABELS, ids=repr)
def test_slime_bad_label_is_200(embedded_server: str, label: object) -> None:
    # slime retries any non-2xx 10 times (about 155 s) and raises out of the rollout.
    r = post(embedded_server, "/slime/reward", {"prompt": PROMPT, "response": RIGHT, "label": label})
    assert r.status_code == 200 and r.json() == 0.0 and r.headers["x-verirl-verdict"] == "error"
    r = post(embedded_server, "/slime/reward?detail=true&failure_reward=-1", {"prompt": PROMPT, "response": RIGHT, "label": label})
    d = r.json()
    assert d["score"] == -1.0 and d["error"]["code"] == "invalid_label" and d["error"]["field"] == "label"
    assert "--label-key" in d["error"]["message"]


def test_slime_their_remote_rm_unchanged(embedded_server: str) -> None:
    # slime/rollout/rm_hub/__init__.py remote_rm (and its shared aiohttp session), run unchanged
    # as batched_async_rm runs it: many samples at once.
    import logging
    import random
    from types import SimpleNamespace

    import aiohttp

    ns = _their_functions(SLIME, "slime/rollout/rm_hub/__init__.py", ["_get_shared_session", "remote_rm", "_shared_session"],
                          {"aiohttp": aiohttp, "asyncio": asyncio, "random": random, "logger": logging.getLogger("slime")})
    args = SimpleNamespace(rm_url=embedded_server + "/slime/reward")
    samples = [SimpleNamespace(prompt=PROMPT, response=resp, label=lab) for resp, lab in
               [(RIGHT, "4"), (WRONG, "4"), (RIGHT, ""), (R1_CUT_OFF_RIGHT, "4")]]
    samples[3].prompt = R1_PROMPT

    async def go() -> list:
        try:
            return await asyncio.gather(*(ns["remote_rm"](args, s) for s in samples))
        finally:
            await ns["_get_shared_session"]().close()

    assert asyncio.run(go()) == [1.0, 0.0, 0.0, 0.0]


# --------------------------------------------------------------------------- verl

def _load_verl_fn(name: str, how: str = "file"):
    # verl/utils/import_utils.py load_module (VERL): "pkg://a.b" -> importlib.import_module,
    # a file path -> spec_from_file_location("custom_module_<hash>", path), then getattr(name).
    import verirl.integrations.verl as mod

    if how == "pkg":
        return getattr(importlib.import_module("verirl.integrations.verl"), name)
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(mod.__file__)}", mod.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):
    # verl/trainer/ppo/reward.py (VERL), module level (PrimeRewardManager pickles the partial)
    merged_kwargs = {**kwargs, **extra_kwargs}
    return raw_fn(*args, **merged_kwargs)


async def _call_with_kwargs_async(raw_fn, extra_kwargs, *args, **kwargs):
    merged_kwargs = {**kwargs, **extra_kwargs}
    return await raw_fn(*args, **merged_kwargs)


def _with_reward_kwargs(raw_fn, reward_kwargs: dict):
    # verl/trainer/ppo/reward.py get_custom_reward_fn (VERL): partial(_call_with_kwargs[_async], raw_fn, reward_kwargs).
    import inspect

    helper = _call_with_kwargs_async if inspect.iscoroutinefunction(raw_fn) else _call_with_kwargs
    return functools.partial(helper, raw_fn, dict(reward_kwargs))


async def _reward_loop_run_single(compute_score, data_source, response_str, ground_truth, extra_info):
    # verl/experimental/reward_loop/reward_manager/naive.py NaiveRewardManager.run_single (VERL):
    # awaits compute_score when inspect.iscoroutinefunction(compute_score) (a partial is unwrapped),
    # else loop.run_in_executor(None, ...); a dict result: reward = result["score"], all keys -> extra info.
    import inspect

    loop = asyncio.get_running_loop()
    extra_info = dict(extra_info or {})
    extra_info["num_turns"] = None
    extra_info["rollout_reward_scores"] = {}
    if inspect.iscoroutinefunction(compute_score):
        result = await compute_score(data_source=data_source, solution_str=response_str, ground_truth=ground_truth, extra_info=extra_info)
    else:
        result = await loop.run_in_executor(None, lambda: compute_score(data_source=data_source, solution_str=response_str, ground_truth=ground_truth, extra_info=extra_info))
    if isinstance(result, dict):
        return {"reward_score": result["score"], "reward_extra_info": dict(result)}
    return {"reward_score": result, "reward_extra_info": {"acc": result}}


@pytest.mark.parametrize("how", ["pkg", "file"])
@pytest.mark.parametrize("name", ["compute_score_async", "compute_score"])
def test_verl_reward_loop_call_with_reward_kwargs(how: str, name: str) -> None:
    fn = _with_reward_kwargs(_load_verl_fn(name, how), {"reward": "dapo", "failure_score": -0.5, "think": "auto"})
    cases = [
        ("openai/gsm8k", "The answer is \\boxed{4}", "4", 1.0, "correct"),
        ("openai/gsm8k", "\\boxed{5}", "4", -1.0, "incorrect"),
        ("codecontests", ADD_PROGRAM, CODE_LABEL, 1.0, "correct"),
        ("openai/gsm8k", "\\boxed{4}", "", -0.5, "error"),
        ("openai/gsm8k", "\\boxed{4}", None, -0.5, "error"),
    ]

    async def go() -> list[dict]:
        # verl/experimental/reward_loop/reward_loop.py compute_score_batch: one task per item, gathered.
        return await asyncio.gather(*(_reward_loop_run_single(fn, ds, s, gt, {"index": i}) for i, (ds, s, gt, _, _) in enumerate(cases)))

    outs = asyncio.run(go())
    for out, (_, _, _, score, verdict) in zip(outs, cases, strict=True):
        assert out["reward_score"] == score and out["reward_extra_info"]["verdict"] == verdict
    assert outs[3]["reward_extra_info"]["error_code"] == "invalid_label" and outs[3]["reward_extra_info"]["undecided"] == 1.0
    assert len({frozenset(o["reward_extra_info"]) for o in outs}) == 1  # same keys for every item


def test_verl_r1_template_think_open_and_prompt_in_extra_info() -> None:
    fn = _load_verl_fn("compute_score", "pkg")
    assert fn("m", R1_CUT_OFF_RIGHT, "4")["verdict"] == "correct"  # verl shows no prompt: nothing to tell
    assert fn("m", R1_CUT_OFF_RIGHT, "4", think="open")["verdict"] == "no_answer"
    assert fn("m", R1_CUT_OFF_RIGHT, "4", extra_info={"prompt": R1_PROMPT})["verdict"] == "no_answer"
    assert fn("m", R1_DONE, "4", think="open")["verdict"] == "correct"


def test_verl_legacy_batch_manager_signature() -> None:
    # verl/workers/reward_manager/batch.py (VERL, legacy; not in the reward loop's registry):
    # self.compute_score(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=..., **reward_kwargs)
    fn = _load_verl_fn("compute_score_batch")
    out = fn(
        data_sources=["a", "a", "b", "a"],
        solution_strs=["\\boxed{4}", "\\boxed{3}", ADD_PROGRAM, "\\boxed{4}"],
        ground_truths=["4", "4", {"inputs": ["2 2\n"], "outputs": ["4\n"]}, "  "],
        extra_infos=[None, None, None, None],
        reward="dapo",
    )
    assert [o["score"] for o in out] == [1.0, -1.0, 1.0, 0.0]
    assert [o["verdict"] for o in out] == ["correct", "incorrect", "correct", "error"]


def _prime_call(fn, completions, references, tasks, extra_info):
    # verl/workers/reward_manager/prime.py (VERL) parallel_compute_score_async: in a
    # ProcessPoolExecutor, partial(evaluation_func, task, completion, reference, task_extra_info)
    # (positional), then float(result) for a number, else float(result[0]).
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=3) as ex:
        results = [f.result(timeout=120) for f in [ex.submit(functools.partial(fn, t, c, r, e)) for c, r, t, e in zip(completions, references, tasks, extra_info, strict=True)]]
    return [float(r) if isinstance(r, int | float | bool) else float(r[0]) for r in results]


@pytest.mark.parametrize("how", ["pkg", "file"])
def test_verl_prime_manager_pickles_and_scores(how: str) -> None:
    fn = _with_reward_kwargs(_load_verl_fn("compute_score_prime", how), {"failure_score": -1.0})
    scores = _prime_call(fn, ["\\boxed{4}", "\\boxed{5}", "\\boxed{4}"], ["4", "4", ""], ["math"] * 3, [None] * 3)
    assert scores == [1.0, 0.0, -1.0]
    # Our dict-returning function is what PrimeRewardManager cannot use (float(result[0])).
    with pytest.raises(KeyError):
        _prime_call(_load_verl_fn("compute_score", "pkg"), ["\\boxed{4}"], ["4"], ["math"], [None])


def test_verl_prime_manager_their_code_unchanged() -> None:
    # verl/workers/reward_manager/prime.py run_reward_scoring / parallel_compute_score_async /
    # single_compute_score, run unchanged (their process pool forks; our client must be fork-safe).
    from concurrent.futures import ProcessPoolExecutor

    import psutil

    ns = _their_functions(VERL, "verl/workers/reward_manager/prime.py",
                          ["single_compute_score", "parallel_compute_score_async", "run_reward_scoring"],
                          {"asyncio": asyncio, "ProcessPoolExecutor": ProcessPoolExecutor, "partial": functools.partial,
                           "psutil": psutil, "get_event_loop": asyncio.get_event_loop})
    fn = _with_reward_kwargs(_load_verl_fn("compute_score_prime", "file"), {})
    _load_verl_fn("compute_score", "pkg")("m", "\\boxed{1}", "1")  # the parent holds pooled connections when it forks
    scores = ns["run_reward_scoring"](fn, completions=["\\boxed{4}", "\\boxed{5}", ADD_PROGRAM], references=["4", "4", CODE_LABEL],
                                      tasks=["math", "math", "code"], extra_info=None, num_processes=3)
    assert scores == [1.0, 0.0, 1.0]


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
    # Undecided or an unusable label -> None (TRL turns it into NaN and leaves it out of the mean).
    assert fn(prompts=["p", "p", "p"], completions=["\\boxed{1}"] * 3, answer=[None, "1", "  "]) == [None, 1.0, None]
    assert fn(prompts=["p"], completions=["\\boxed{1}"], answer=[""]) == [None]  # all bad: no request, no raise
    with pytest.raises(KeyError, match="ground-truth column"):
        fn(prompts=["p"], completions=["x"], question=["q"])


def test_trl_r1_template_conversational() -> None:
    from verirl.integrations.trl import VerirlReward

    conv_prompt = [[{"role": "user", "content": "2+2?"}]]
    cut = [[{"role": "assistant", "content": R1_CUT_OFF_RIGHT}]]
    done = [[{"role": "assistant", "content": R1_DONE}]]
    assert VerirlReward(think="open")(prompts=conv_prompt, completions=cut, answer=["4"]) == [0.0]
    assert VerirlReward(think="open")(prompts=conv_prompt, completions=done, answer=["4"]) == [1.0]
    assert VerirlReward()(prompts=[R1_PROMPT], completions=[R1_CUT_OFF_RIGHT], answer=["4"]) == [0.0]  # templated prompt: auto


def test_trl_async_reward_function() -> None:
    from verirl.integrations.trl import AsyncVerirlReward

    fn = AsyncVerirlReward(reward="r1")
    assert asyncio.iscoroutinefunction(fn)  # how TRL detects async reward functions

    async def go():
        return await fn(prompts=["p", "p", "p"], completions=["<think>a</think> \\boxed{4}", "\\boxed{4}", "\\boxed{4}"], answer=["4", "4", ""])

    assert asyncio.run(go()) == [1.5, 1.0, None]


def test_grpo_groups_flag_zero_variance_over_http(embedded_server: str) -> None:
    """16 rollouts of one prompt all scored the same are `zero_variance` (DAPO drops them); a mixed group is not."""
    same = [{"id": f"s{k}", "completion": f"\\boxed{{{5 + k % 3}}}", "answer": "4", "group": "all-wrong"} for k in range(16)]
    mixed = [{"id": f"m{k}", "completion": f"\\boxed{{{4 if k % 4 else 9}}}", "answer": "4", "group": "mixed"} for k in range(16)]
    r = post(embedded_server, "/v1/score", {"items": same + mixed})
    g = r.json()["groups"]
    assert g["all-wrong"] == {"size": 16, "mean": 0.0, "std": 0.0, "pass_rate": 0.0, "zero_variance": True, "failures": 0}
    assert g["mixed"]["zero_variance"] is False and g["mixed"]["pass_rate"] == 0.75
    assert g["mixed"]["mean"] == 0.75 and abs(g["mixed"]["std"] - (0.75 * 0.25) ** 0.5) < 1e-9


# --------------------------------------------------------------------------- one-item path at batch concurrency

def test_many_concurrent_one_item_requests_each_get_their_own_answer(embedded_server: str) -> None:
    """64 one-item requests in flight (coalesced into pool batches) each get their own verdict, in order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(k: int) -> tuple[int, float, str]:
        ans = k % 5
        r = post(embedded_server, "/slime/reward", {"prompt": "p", "response": f"\\boxed{{{ans if k % 3 else ans + 1}}} #{k}", "label": str(ans)})
        return k, r.json(), r.headers["x-verirl-verdict"]

    with ThreadPoolExecutor(64) as ex:
        out = list(ex.map(one, range(256)))
    for k, score, verdict in out:
        assert (score, verdict) == ((1.0, "correct") if k % 3 else (0.0, "incorrect")), k


# --------------------------------------------------------------------------- token lengths

def _word_tokenizer(path: Path) -> Path:
    """A local tokenizer.json in which every character is a token (built here: no download)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\S"), behavior="isolated")
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    return path


def test_token_lengths_from_a_local_tokenizer(tmp_path: Path, embedded_server: str) -> None:
    from tests import procs

    spec = json.dumps({"accuracy": {"weight": 1}, "length": {"type": "dapo", "max_len": 30, "cache_len": 10}, "length_unit": "tokens"})
    query = "?reward=" + httpx.QueryParams({"r": spec})["r"]
    body = {"prompt": "p", "response": "so \\boxed{4}", "label": "4"}  # 2 words, 12 characters
    # Without a tokenizer: words, and the breakdown says so.
    d = post(embedded_server, "/slime/reward" + query + "&detail=true", body).json()
    assert d["breakdown"]["length_unit"] == "words" and d["breakdown"]["length_value"] == 2.0 and d["score"] == 1.0
    tok_dir = _word_tokenizer(tmp_path / "toks" / "chars")
    server, url = procs.start_server(tmp_path, workers=1, VERIRL_TOKENIZER=str(tok_dir), VERIRL_TOKENIZER_DIR=str(tmp_path / "toks"))
    try:
        d = post(url, "/slime/reward" + query + "&detail=true", body).json()
        assert d["breakdown"]["length_unit"] == "tokens" and d["breakdown"]["length_value"] == 12.0
        assert d["score"] == 1.0
        long = dict(body, response="x" * 30 + " \\boxed{4}")  # 40 tokens > max_len 30 (but 2 words)
        d = post(url, "/slime/reward" + query + "&detail=true&tokenizer=chars", long).json()
        assert d["breakdown"]["length_value"] == 40.0 and d["score"] == 0.0  # 1 + (-1)
        r = post(url, "/slime/reward?tokenizer=../etc", body)
        assert r.status_code == 422 and r.json()["error"]["field"] == "query.tokenizer"
    finally:
        server.stop()
    # The verl/TRL functions count tokens on the trainer's side.
    from verirl.integrations.verl import compute_score

    out = compute_score("m", "x" * 30 + " \\boxed{4}", "4", reward=json.loads(spec), tokenizer=str(tok_dir))
    assert out["score"] == 0.0 and out["length"] == -1.0


class _Tok:
    """A tokenizer whose token ids index a list of strings (verl decodes response ids with it)."""

    def __init__(self) -> None:
        self.vocab: list[str] = ["<pad>"]

    def encode(self, text: str) -> list[int]:
        self.vocab.append(text)
        return [len(self.vocab) - 1]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(self.vocab[int(i)] for i in ids if int(i) != 0)


class _Item:
    def __init__(self, batch: dict, non_tensor: dict) -> None:
        self.batch, self.non_tensor_batch = batch, non_tensor


class _Data:
    """The slice of verl's DataProto that run_single reads: len(), data[0].batch / .non_tensor_batch."""

    def __init__(self, item: _Item) -> None:
        self.item = item

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> _Item:
        return self.item


@pytest.mark.parametrize("manager", ["naive", "dapo"])
def test_verl_reward_loop_managers_their_code_unchanged(manager: str) -> None:
    # verl/experimental/reward_loop/reward_manager/{naive,dapo}.py (VERL): the managers'
    # __init__ and run_single, unchanged, with our function bound by get_custom_reward_fn's
    # partial; tensors are numpy arrays (run_single only slices and sums them).
    import inspect
    from types import SimpleNamespace

    import numpy as np

    path = f"verl/experimental/reward_loop/reward_manager/{manager}.py"
    tree = ast.parse(_their_source(VERL, path))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    cls.bases, cls.decorator_list = [], []
    space: dict = {"inspect": inspect, "default_compute_score": None}

    class _Base:  # RewardManagerBase.__init__: config, tokenizer, loop = get_event_loop()
        def __init__(self, config, tokenizer) -> None:
            self.config, self.tokenizer, self.loop = config, tokenizer, asyncio.get_event_loop()

    space["RewardManagerBase"] = _Base
    cls.bases = [ast.Name(id="RewardManagerBase", ctx=ast.Load())]
    exec(compile(ast.fix_missing_locations(ast.Module(body=[cls], type_ignores=[])), path, "exec"), space)  # noqa: S102
    cls_obj = space[cls.name]

    class _Cfg(dict):
        def __getattr__(self, k: str):
            return self[k]

    overlong = SimpleNamespace(enable=True, len=4, penalty_factor=1.0, log=True)
    config = _Cfg(reward_model=_Cfg(reward_kwargs={"overlong_buffer_cfg": overlong, "max_resp_len": 8}))
    tok = _Tok()
    fn = _with_reward_kwargs(_load_verl_fn("compute_score_async", "pkg"), {"reward": "dapo", "failure_score": 0.0, "think": "open"})

    async def go() -> list[dict]:
        mgr = cls_obj(config, tok, compute_score=fn)
        assert mgr.is_async_reward_score  # verl awaits our coroutine function
        out = []
        for response, gt, n_tokens in [(R1_DONE, "4", 3), ("5</think> \\boxed{5}", "4", 3), (R1_CUT_OFF_RIGHT, "4", 3), (R1_DONE, "", 7)]:
            ids = tok.encode(response) + [0] * (n_tokens - 1)
            resp = np.array(ids + [0] * (8 - len(ids)))
            mask = np.array([1] * 4 + [1] * n_tokens + [0] * (8 - n_tokens))  # 4 prompt tokens, then the response
            data = _Data(_Item({"responses": resp, "attention_mask": mask}, {"data_source": "math", "reward_model": {"ground_truth": gt}, "extra_info": {}}))
            out.append(await mgr.run_single(data))
        return out

    outs = asyncio.run(go())
    scores = [o["reward_score"] for o in outs]
    infos = [o["reward_extra_info"] for o in outs]
    assert [i["verdict"] for i in infos] == ["correct", "incorrect", "no_answer", "error"]
    assert infos[3]["error_code"] == "invalid_label"
    if manager == "naive":
        assert scores == [1.0, -1.0, -1.0, 0.0]
    else:  # DAPO adds its own overlong penalty on the valid response length (7 tokens > 8 - 4)
        assert scores == [1.0, -1.0, -1.0, -0.75] and infos[3]["overlong"]


def test_verl_numpy_ground_truths() -> None:
    # verl's non_tensor_batch holds numpy object arrays: a ground truth may be np.int64 or np.str_.
    import numpy as np

    fn = _load_verl_fn("compute_score", "pkg")
    assert fn("m", "\\boxed{4}", np.int64(4))["verdict"] == "correct"
    assert fn("m", "\\boxed{4}", np.str_("4"))["verdict"] == "correct"
    assert fn("m", "\\boxed{4}", np.array([]))["error_code"] == "invalid_label"
