"""Instruction-following rewards: the golden table, the reference library, labels, offline data, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import post
from tests.verirl.golden_instruction import CASES, IFBENCH_CASES, IFEVAL_CASES, Case
from verirl.instruction import grader as I
from verirl.errors import InvalidInput
from verirl.scoring import score_item

ROOT = Path(__file__).resolve().parents[2]
IFEVAL_TYPES = {
    "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "keywords:letter_frequency",
    "language:response_language", "length_constraints:number_sentences", "length_constraints:number_paragraphs",
    "length_constraints:number_words", "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders", "detectable_content:postscript", "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response", "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections", "detectable_format:json_format", "detectable_format:title",
    "combination:two_responses", "combination:repeat_prompt", "startend:end_checker",
    "change_case:capital_word_frequency", "change_case:english_capital", "change_case:english_lowercase",
    "punctuation:no_comma", "startend:quotation",
}


def _item(c: Case, response: str, **opts) -> dict:
    return {"task": "instruction", "completion": response, "prompt": c.prompt,
            "constraints": {"instruction_id_list": [c.id], "kwargs": [c.kwargs]}, "options": opts}


def test_table_covers_every_ifeval_type_and_20_ifbench() -> None:
    assert len(IFEVAL_CASES) >= 150 and len(IFBENCH_CASES) >= 20
    assert {c.id for c in IFEVAL_CASES} == IFEVAL_TYPES
    assert set(I.rows()) >= IFEVAL_TYPES
    # loose vs strict differ on some responses of the table (each type graded both ways below)
    assert sum(1 for c in CASES if c.good_expect == (False, True) or c.bad_expect == (False, True)) >= 10


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden(case: Case) -> None:
    for response, (strict, loose) in ((case.good, case.good_expect), (case.bad, case.bad_expect)):
        for level, want in (("strict", strict), ("loose", loose)):
            res = score_item(_item(case, response, if_check=level))
            d = res["details"]
            assert res["verdict"] in ("correct", "incorrect", "no_answer"), d
            [entry] = d["constraints"]
            assert (entry["strict"], entry["loose"]) == (strict, loose), (response, entry)
            assert (res["verdict"] == "correct") == want and res["reward"] == (1.0 if want else 0.0)


REFERENCE = textwrap.dedent(
    """
    import json, sys
    from verirl.instruction import nltk_offline
    nltk_offline.ensure()  # the same offline data; the library otherwise downloads it
    import langdetect
    langdetect.DetectorFactory.seed = 0
    from if_verifiable import IFBenchSample, IFEvalSample, evaluate_output_for_sample
    out = []
    for row in json.load(sys.stdin):
        bench, cls = ("ifeval", IFEvalSample) if row["ifeval"] else ("ifbench", IFBenchSample)
        sample = cls(key=0, prompt=row["prompt"] or "", instruction_id_list=[row["id"]], kwargs=[row["kwargs"]])
        results, _ = evaluate_output_for_sample(bench, sample, row["response"])
        out.append([[r.strict_pass, r.loose_pass] for r in results])
    print(json.dumps(out))
    """
)


def test_agrees_with_reference_library() -> None:
    """if-verifiable's own evaluate_output_for_sample (normal import, its loose rule and think handling),
    in a fresh interpreter, on every response of the table: 100% agreement per constraint, strict and loose."""
    rows, ours = [], []
    for c in CASES:
        for response in (c.good, c.bad):
            rows.append({"ifeval": c in IFEVAL_CASES, "id": c.id, "kwargs": c.kwargs, "prompt": c.prompt,
                         "response": f"<think>plan</think>{response}"})
            [e] = I.check(response.strip(), [I.Constraint(c.id, c.kwargs)])
            ours.append([[e["strict"], e["loose"]]] if response.strip() else [])
    p = subprocess.run([sys.executable, "-c", REFERENCE], input=json.dumps(rows), capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    ref = json.loads(p.stdout.strip().splitlines()[-1])
    diffs = [(r["id"], r["response"][:60], o, g) for r, o, g in zip(rows, ours, ref, strict=True) if o != g]
    assert len(ref) == len(rows) >= 2 * 170
    assert diffs == []


OFFLINE = textwrap.dedent(
    """
    import socket
    attempts = []
    def refuse(*a, **k):
        attempts.append(a)
        raise OSError("network disabled in this test")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    import nltk
    from verirl.scoring import score_item
    cons = {"instruction_id_list": ["length_constraints:number_sentences", "change_case:capital_word_frequency",
                                    "ratio:stop_words", "language:response_language", "format:title_case"],
            "kwargs": [{"num_sentences": 2, "relation": "at least"}, {"capital_frequency": 1, "capital_relation": "at least"},
                       {"percentage": 60}, {"language": "en"}, {}]}
    res = score_item({"task": "instruction", "completion": "Dr. Smith Went Home Today. He Was Very TIRED Indeed.",
                      "constraints": cons})
    assert res["verdict"] == "correct", res
    assert nltk.download("punkt_tab") is False
    assert attempts == [], attempts
    print("OK", len(res["details"]["constraints"]))
    """
)


@pytest.mark.parametrize("home", ["default", "unwritable"])
def test_checkers_run_offline(home: str, tmp_path: Path) -> None:
    """Fresh interpreter, sockets patched to refuse: punkt, word_tokenize, stop words and langdetect
    all work from package data; nltk.download is refused; no connection is ever attempted. With an
    unwritable home the data goes to a private temporary directory instead of ~/.cache/verirl."""
    import os

    env = dict(os.environ)
    if home == "unwritable":
        env["HOME"] = "/proc/self"  # mkdir fails there even for root
    else:
        env["HOME"] = str(tmp_path)
    p = subprocess.run([sys.executable, "-c", OFFLINE], capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip().endswith("OK 5")
    if home == "default":
        [cache] = (tmp_path / ".cache" / "verirl").glob("nltk-*")
        assert (cache / "tokenizers" / "punkt_tab" / "english" / "ortho_context.tab").stat().st_size > 100_000
        assert len((cache / "corpora" / "stopwords" / "english").read_text().split()) == 179


def test_shipped_stopwords_are_nltks_list() -> None:
    from verirl.instruction.nltk_offline import STOPWORDS_EN

    assert len(STOPWORDS_EN) == len(set(STOPWORDS_EN)) == 179
    assert {"i", "the", "wouldn't", "ourselves", "should've"} <= set(STOPWORDS_EN)


# --------------------------------------------------------------------------- labels

OI_LIST = str([{"instruction_id": ["punctuation:no_comma", "length_constraints:number_words"],
                "kwargs": [None, {"num_words": 3, "relation": "at least"}]}])
RLVR = json.dumps({"func_name": "validate_lowercase", "N": None, "quantifier": None, "end_phrase": None,
                   "keyword_list": None, "word": None, "forbidden_words": None, "letter": None, "i": None,
                   "first_word": None, "postscript_marker": None, "options": None, "section_splitter": None,
                   "original_prompt": None})


@pytest.mark.parametrize(
    "label,n",
    [
        ({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}, 1),
        ({"instruction_id_list": ["punctuation:no_comma", "startend:quotation"]}, 2),  # kwargs may be omitted
        (OI_LIST, 2),  # open-instruct IFEvalG ground truth: Python-literal string of a one-element list
        (json.dumps([json.dumps({"instruction_id": ["punctuation:no_comma"], "kwargs": [{}]})]), 1),
        (RLVR, 1),  # Tulu 3 RLVR-IFeval
        (json.loads(RLVR), 1),
    ],
)
def test_label_forms(label, n) -> None:
    cs = I.parse_constraints(label)
    assert len(cs) == n and I.looks_like_label(label)
    assert all(v is not None for c in cs for v in c.kwargs.values())


@pytest.mark.parametrize("label", ["4", "\\frac12", ["4"], {"answer": "4"}, "[1, 2]", {"inputs": [], "outputs": []},
                                   "{'instruction_id': 'x', 'kwargs': __import__('os')}"])
def test_other_labels_are_not_instruction_labels(label) -> None:
    assert not I.looks_like_label(label)


@pytest.mark.parametrize(
    "constraints,field",
    [({"kwargs": [{}]}, "constraints"), ("not json", "constraints"), ({"instruction_id_list": ["a", "b"], "kwargs": [{}]}, "constraints"),
     ([], "constraints"), ("{'instruction_id': ['a'], 'kwargs': [__import__('os')]}", "constraints"),
     ("[" * 99_999, "constraints"), ('[{"instruction_id": [' + "[" * 5000 + "]}]", "constraints"),
     ("[{'instruction_id': ['a'], 'kwargs': [{'n': 9**9**9}]}]", "constraints"), ("x" * 200_000, "constraints")],
)
def test_bad_labels_name_the_field(constraints, field) -> None:
    with pytest.raises(InvalidInput) as e:
        I.parse_constraints(constraints)
    assert e.value.field == field
    res = score_item({"task": "instruction", "completion": "x", "constraints": constraints})
    assert res["verdict"] == "error" and res["reward"] is None


@pytest.mark.parametrize(
    "iid,kwargs,why",
    [
        ("no:such_id", {}, "unknown constraint"),
        ("words:start_verb", {}, "not supported"),
        ("length_constraints:number_words", {"relation": "at least"}, "needs kwargs ['num_words']"),  # the reference picks one at random
        ("keywords:existence", {}, "needs kwargs ['keywords']"),
        ("count:word_count_range", {"min_words": 100}, "max_words"),
        ("verify_keyword_frequency", {"word": "a"}, "needs argument 'N'"),
        ("validate_paragraphs", {"N": 2, "first_word": "x", "i": 1.5}, "must be an integer"),
        ("length_constraints:number_words", {"num_words": 3, "relation": "at least", "bogus": 1}, "bogus"),
    ],
)
def test_bad_constraints_are_errors_not_zeros(iid, kwargs, why) -> None:
    res = score_item({"task": "instruction", "completion": "some words here now",
                      "constraints": {"instruction_id_list": [iid, "punctuation:no_comma"], "kwargs": [kwargs, {}]}})
    assert res["verdict"] == "error" and res["reward"] is None
    assert why in res["details"]["error"]
    assert res["details"]["constraints"][1] == {"id": "punctuation:no_comma", "source": "ifeval", "strict": True, "loose": True}


# --------------------------------------------------------------------------- Tulu 3 rows

TULU = [
    ("verify_keywords", {"keyword_list": ["Sun", "moon"]}, "the sun and the MOON", "the sun only"),
    ("verify_keyword_frequency", {"word": "cat", "N": 2}, "Cat, cat! dog", "cat cat cat"),
    ("validate_forbidden_words", {"forbidden_words": ["bad"]}, "good text", "Badly done"),
    ("verify_letter_frequency", {"letter": "z", "N": 2}, "zoo zebra", "zzz"),
    ("validate_response_language", {"language": "fr"}, "Le petit chat dort tranquillement sur le canapé.", "The small cat sleeps on the sofa."),
    ("verify_paragraph_count", {"N": 2}, "one\n* * *\ntwo", "one\n***\ntwo"),
    ("validate_word_constraint", {"N": 10, "quantifier": "around"}, " ".join(["w"] * 11), " ".join(["w"] * 12)),
    ("validate_word_constraint", {"N": 3, "quantifier": "at most"}, "a b c", "a b c d"),
    ("verify_sentence_constraint", {"N": 2, "quantifier": "at least"}, "One. Two.", "One only"),
    ("validate_paragraphs", {"N": 2, "first_word": "Then", "i": 2}, "First.\n\nThen second.", "First.\n\nAnd second."),
    ("verify_postscript", {"postscript_marker": "P.S."}, "Body.\nP.S. hi", "Body.\nP.S."),
    ("validate_placeholders", {"N": 2}, "[a] and [b]", "[a] only"),
    ("verify_bullet_points", {"N": 2}, "* a\n- b", "* a\n* b\n* c"),
    ("validate_title", {}, "<<T>> body", "T body"),
    ("validate_choice", {"options": ["yes", "no"]}, "I say yes", "maybe"),
    ("validate_highlighted_sections", {"N": 2}, "*a* and *b*", "*a* only"),
    ("validate_sections", {"N": 2, "section_splitter": "Section"}, "Section 1 a Section 2 b", "Section 1 only"),
    ("validate_json_format", {}, '{"a": 1}', "{a: 1}"),
    ("validate_repeat_prompt", {"original_prompt": "Say hi."}, "Say hi. Hi!", "Hi! Say hi."),
    ("validate_two_responses", {}, "a ****** b", "a ****** a"),
    ("validate_uppercase", {}, "ALL CAPS 1", "Not caps"),
    ("validate_lowercase", {}, "all lower", "Not lower"),
    ("validate_frequency_capital_words", {"N": 2, "quantifier": "at least"}, "BIG AND small", "BIG and small"),
    ("validate_end", {"end_phrase": "Bye."}, "Text. Bye.", "Bye. Text."),
    ("validate_quotation", {}, '"quoted"', "quoted"),
    ("validate_no_commas", {}, "no commas", "a, b"),
]


@pytest.mark.parametrize("func,args,good,bad", TULU, ids=[f"{t[0]}-{i}" for i, t in enumerate(TULU)])
def test_tulu3_rlvr_ifeval(func, args, good, bad) -> None:
    label = json.dumps({"func_name": func, **args, "unused": None})
    for text, want in ((good, "correct"), (bad, "incorrect")):
        res = score_item({"task": "instruction", "completion": f"<think>x</think>{text}", "answer": label})
        assert res["verdict"] == want, (text, res["details"])
        assert res["details"]["constraints"][0]["source"] == "rlvr-ifeval"


def test_tulu3_covers_all_25_functions() -> None:
    from verirl.instruction.tulu3 import RULES

    assert len(RULES) == 25 and {t[0] for t in TULU} == set(RULES)


# --------------------------------------------------------------------------- reward, think, prompt

TWO = {"instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
       "kwargs": [{}, {"num_words": 5, "relation": "at least"}]}


def test_reward_all_or_fraction_and_shaping() -> None:
    half = {"task": "instruction", "completion": "<think>hm</think>only, four words", "constraints": TWO}
    r = score_item(half)
    assert (r["verdict"], r["reward"]) == ("incorrect", 0.0)
    assert r["details"]["passed"] == 0 and r["details"]["total"] == 2
    r = score_item({**half, "completion": "<think>hm</think>only four words"})
    assert (r["verdict"], r["reward"], r["details"]["passed"]) == ("incorrect", 0.0, 1)
    r = score_item({**half, "completion": "<think>hm</think>only four words", "options": {"if_reward": "fraction"}})
    assert (r["verdict"], r["reward"]) == ("incorrect", 0.5)
    good = {**half, "completion": "<think>hm</think>five words are right here"}
    assert score_item(good)["reward"] == 1.0
    from verirl.rewards import validate_spec

    r = score_item({**good, "options": {"reward": validate_spec("r1")}})
    assert r["reward"] == 1.5 and r["details"]["reward_breakdown"]["format"] == 0.5
    r = score_item({**half, "options": {"reward": validate_spec("dapo")}})
    assert r["reward"] == -1.0


def test_think_handling_matches_math() -> None:
    c = {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    r = score_item({"task": "instruction", "completion": "<think>a, b, c</think>clean answer", "constraints": c})
    assert r["verdict"] == "correct"  # commas in the thinking do not count
    r = score_item({"task": "instruction", "completion": "<think>still thinking, no end", "constraints": c})
    assert r["verdict"] == "no_answer" and r["reward"] == 0.0
    r = score_item({"task": "instruction", "completion": "<think>x</think>   ", "constraints": c})
    assert r["verdict"] == "no_answer" and r["details"]["reason"] == "empty_response"
    r = score_item({"task": "instruction", "completion": "<think>a, b</think>x", "constraints": c, "options": {"think": "ignore"}})
    assert r["verdict"] == "incorrect"


def test_seeded_language_detection_is_deterministic() -> None:
    c = {"instruction_id_list": ["language:response_language"], "kwargs": [{"language": "en"}]}
    text = "ok ok fine yes"
    verdicts = {score_item({"task": "instruction", "completion": text, "constraints": c})["verdict"] for _ in range(20)}
    assert len(verdicts) == 1


# --------------------------------------------------------------------------- end to end (real server)

def test_http_score_jobs_and_trainer_endpoints(embedded_server: str) -> None:
    ok = {"task": "instruction", "id": "a", "group": "g", "completion": "<think>x</think>five words are right here", "constraints": TWO}
    bad = {**ok, "id": "b", "completion": "<think>x</think>no, no"}
    r = post(embedded_server, "/v1/score", {"items": [ok, bad, {"task": "instruction", "completion": "x", "constraints": {"kwargs": []}}]})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["verdict"] for x in res] == ["correct", "incorrect", "error"]
    assert res[2]["details"]["error"]["field"] == "items[2].constraints"
    assert r.json()["groups"]["g"]["pass_rate"] == 0.5
    # jobs
    import time

    import httpx

    j = post(embedded_server, "/v1/jobs", {"items": [ok, bad]}).json()
    for _ in range(600):
        st = httpx.get(f"{embedded_server}/v1/jobs/{j['job_id']}", timeout=30).json()
        if st["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert [x["verdict"] for x in st["result"]["results"]] == ["correct", "incorrect"]
    # OpenRLHF: labels are open-instruct ground truths (auto-detected as instruction)
    body = {"query": ["P: no commas please\nfine answer", "P: no commas please\nbad, answer", "P: 2+2?\n\\boxed{4}"],
            "prompts": ["P: no commas please\n", "P: no commas please\n", "P: 2+2?\n"],
            "labels": [RLVR.replace("validate_lowercase", "validate_no_commas"), OI_LIST, "4"]}
    out = post(embedded_server, "/get_reward", body).json()
    assert out["verdicts"] == ["correct", "incorrect", "correct"] and out["rewards"] == [1.0, 0.0, 1.0]
    # slime
    s = post(embedded_server, "/slime/reward?detail=true", {"prompt": "p", "response": "ALL CAPS", "label": RLVR}).json()
    assert s["verdict"] == "incorrect" and s["score"] == 0.0
    s = post(embedded_server, "/slime/reward?task=qa", {"prompt": "p", "response": "Answer: The Eiffel Tower", "label": ["eiffel tower"]})
    assert s.json() == 1.0
    # status page shows the per-task verdict mix
    page = httpx.get(embedded_server + "/", timeout=30).text
    assert "<td>instruction</td>" in page


def test_verl_and_trl_integrations(embedded_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIRL_URL", embedded_server)
    from verirl.integrations import verl
    from verirl.integrations.trl import VerirlReward

    out = verl.compute_score("ifeval", "<think>x</think>no commas here", OI_LIST.replace("'num_words': 3", "'num_words': 2"))
    assert out["score"] == 1.0 and out["verdict"] == "correct"
    out = verl.compute_score("triviaqa", "<answer>Paris</answer>", ["Paris", "Paris, France"])
    assert out["score"] == 1.0
    rf = VerirlReward()
    # an IFEval-shaped dataset: instruction_id_list and kwargs columns
    rewards = rf(prompts=["p1", "p2"], completions=["no commas", "a, b"],
                 instruction_id_list=[["punctuation:no_comma"], ["punctuation:no_comma"]], kwargs=[[{}], [{}]])
    assert rewards == [1.0, 0.0]
    rewards = rf(prompts=["p"], completions=[[{"role": "assistant", "content": "ALL CAPS"}]], ground_truth=[RLVR])
    assert rewards == [0.0]


def test_filter_verify_grades_instruction_rows(tmp_path: Path) -> None:
    rows = [{"problem": "Write without commas.", "completion": "no commas", "ground_truth": RLVR.replace("validate_lowercase", "validate_no_commas")},
            {"problem": "Write without commas.", "completion": "a, b", "ground_truth": RLVR.replace("validate_lowercase", "validate_no_commas")},
            {"problem": "2+2", "completion": "\\boxed{4}", "ground_truth": "4"}]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out.jsonl"
    p = subprocess.run([sys.executable, "-m", "verirl.cli", "filter", str(src), "--out", str(out), "--verify", "--quiet", "--num-proc", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["verdict"] for g in got] == ["correct", "incorrect", "correct"]


def test_library_still_imports_normally_after_our_rows() -> None:
    """We load only the checker modules (skipping the package's `datasets` import); a user's
    own `import if_verifiable` in the same process still gets the real package."""
    I.rows()
    from if_verifiable import IFEvalSample, evaluate_output_for_sample

    sample = IFEvalSample(key=1, prompt="", instruction_id_list=["punctuation:no_comma"], kwargs=[{}])
    results, scores = evaluate_output_for_sample("ifeval", sample, "no commas")
    assert results[0].strict_pass and scores.binary_strict == 1.0


# --------------------------------------------------------------------------- README and curation

def test_readme_curls_for_instruction_and_qa(embedded_server: str) -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    want = {"if1": "correct", "if2": "incorrect", "q1": "correct", "q2": "correct"}
    seen = {}
    for title in ("## Instruction following", "## QA"):
        section = readme.split(title, 1)[1].split("\n## ", 1)[0]
        for body in re.findall(r"curl -s 127\.0\.0\.1:8000/v1/score -H 'content-type: application/json' -d '(.*?)'\n```", section, re.DOTALL):
            r = post(embedded_server, "/v1/score", json.loads(body))
            assert r.status_code == 200, r.text
            seen.update({x["id"]: x["verdict"] for x in r.json()["results"]})
    assert seen == want


IFEVAL_LIKE = [
    {"key": 1000, "prompt": "Write a short essay about the history of the printing press in Europe, and make sure "
                            "that your entire response is in lowercase letters with no capital letters at all.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
    {"key": 1001, "prompt": "Describe a rainy afternoon in a small coastal village using at least three highlighted "
                            "sections in markdown and end your response with the exact phrase Any other questions?",
     "instruction_id_list": ["detectable_format:number_highlighted_sections", "startend:end_checker"],
     "kwargs": [{"num_highlights": 3}, {"end_phrase": "Any other questions?"}]},
]


def test_ifeval_benchmark_registers_and_decontaminates_instruction_prompts(tmp_path: Path) -> None:
    """`verirl benchmarks add ifeval <local IFEval-shaped jsonl>` (ids from `key`), then filter
    instruction prompts: the copied prompt is contaminated, the paraphrase pair is a near duplicate."""
    import os

    bench = tmp_path / "input_data.jsonl"
    bench.write_text("\n".join(json.dumps(r) for r in IFEVAL_LIKE))
    env = {**os.environ, "VERIRL_DATA_DIR": str(tmp_path / "data")}
    p = subprocess.run([sys.executable, "-m", "verirl.cli", "benchmarks", "add", "ifeval", str(bench), "--field", "prompt"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    own = "Write a limerick about a cat who learns to play the violin. Do not use any commas in your response and wrap it in double quotes."
    rows = [{"prompt": IFEVAL_LIKE[0]["prompt"]},  # verbatim benchmark prompt
            {"prompt": own}, {"prompt": own.replace("violin", "viola")},  # a near-duplicate pair
            {"prompt": "Explain photosynthesis to a ten year old in exactly four bullet points using markdown."}]
    src = tmp_path / "prompts.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out.jsonl"
    p = subprocess.run([sys.executable, "-m", "verirl.cli", "filter", str(src), "--out", str(out), "--dedup",
                        "--decontaminate", "ifeval", "--quiet", "--num-proc", "1"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["contaminated"] for g in got] == [True, False, False, False]
    flags = got[0]["contamination"]
    flags = json.loads(flags) if isinstance(flags, str) else flags
    assert flags[0]["benchmark"] == "ifeval" and flags[0]["item"] == "1000"
    assert got[2]["near_duplicate_of"] == "1" and got[3]["near_duplicate_of"] is None


def test_registered_instruction_problem_gets_difficulty(embedded_server: str) -> None:
    label = RLVR.replace("validate_lowercase", "validate_no_commas")
    r = post(embedded_server, "/v1/problems", {"problems": [
        {"id": "if-nocomma-1", "task": "instruction", "text": "Describe your morning routine without using any commas.", "answer": label}]})
    assert r.status_code == 200, r.text
    items = [{"task": "instruction", "problem_id": "if-nocomma-1", "completion": c} for c in ("no commas here", "one, two", "fine", "a, b")]
    res = post(embedded_server, "/v1/score", {"items": items}).json()["results"]
    assert [x["verdict"] for x in res] == ["correct", "incorrect", "correct", "incorrect"]
    assert res[-1]["difficulty"]["attempts"] == 4 and res[-1]["difficulty"]["correct"] == 2


def test_distributed_mode_grades_instruction_and_qa(distributed: dict) -> None:
    """Through real RQ workers: the same verdicts and details as embedded mode."""
    items = [
        {"task": "instruction", "completion": "<think>x</think>five words are right here", "constraints": TWO},
        {"task": "instruction", "completion": "ALL CAPS", "answer": RLVR},
        {"task": "qa", "completion": "Answer: the Nile", "answer": ["Nile", "River Nile"]},
    ]
    r = post(distributed["url"], "/v1/score", {"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["verdict"] for x in res] == ["correct", "incorrect", "correct"]
    assert res[0]["details"]["constraints"][1]["id"] == "length_constraints:number_words"


# issue 19 item 7: the reference library swaps a value it does not accept ("#" as a letter) for a random one
DETERMINISM = [Case(c.id, c.kwargs, c.good, c.bad, name=c.name) for c in CASES] + [
    Case("keywords:letter_frequency", {"letter": ch, "let_frequency": 3, "let_relation": "at least"},
         "a # b # c # d! e! f!", "nothing marked here", name=f"letter_{ord(ch)}")
    for ch in ("#", "!", "1", "é")
]


@pytest.mark.parametrize("case", DETERMINISM, ids=lambda c: c.name)
def test_every_constraint_type_gives_one_verdict_in_50_runs(case: Case) -> None:
    import random

    for response in (case.good, case.bad):
        seen = set()
        for run in range(50):
            random.seed(run)  # whatever the process's random state, the same verdict
            res = score_item(_item(case, response))
            seen.add((res["verdict"], res["reward"], json.dumps(res["details"].get("constraints"), sort_keys=True)))
        assert len(seen) == 1, (case.id, response, seen)


def test_a_letter_outside_a_to_z_is_counted_as_written() -> None:
    c = Case("keywords:letter_frequency", {"letter": "#", "let_frequency": 3, "let_relation": "at least"}, "", "")
    assert score_item(_item(c, "a # b # c # d"))["verdict"] == "correct"
    assert score_item(_item(c, "a # b # c d"))["verdict"] == "incorrect"
