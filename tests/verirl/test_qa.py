"""Short-answer QA: SQuAD/TriviaQA normalisation, exact and token-F1 match, several golds, extraction."""

from __future__ import annotations

import pytest

from tests.helpers import post
from verirl.qa import f1, normalize
from verirl.scoring import score_item

C, W, N = "correct", "incorrect", "no_answer"

# (completion, gold(s), options, expected verdict)
CASES: list[tuple[str, str | list[str], dict, str]] = [
    # articles
    ("Paris", "Paris", {}, C),
    ("The Paris", "Paris", {}, C),
    ("the Eiffel Tower", "Eiffel Tower", {}, C),
    ("An apple", "apple", {}, C),
    ("a dog", "the dog", {}, C),
    ("A Tale of Two Cities", "Tale of Two Cities", {}, C),
    ("theatre", "atre", {}, W),  # "the" inside a word is not an article
    ("Anne", "ne", {}, W),
    # case and whitespace
    ("PARIS", "paris", {}, C),
    ("  New   York\n", "new york", {}, C),
    ("new\tyork city", "New York City", {}, C),
    # punctuation
    ("Paris.", "Paris", {}, C),
    ("Paris´", "Paris", {}, C),  # issue 19: a spacing accent, not a token of its own
    ("Paris ˜", "Paris", {}, C),
    ("Paris¨", "Paris", {}, C),
    ("Parisé", "Paris", {}, W),
    ("U.S.A.", "USA", {}, C),
    ("rock'n'roll", "rocknroll", {}, C),
    ("O'Neil", "ONeil", {}, C),
    ("“Hamlet”", "Hamlet", {}, C),
    ("Hamlet!", "hamlet?", {}, C),
    ("well-known", "wellknown", {}, C),
    ("Washington, D.C.", "Washington DC", {}, C),
    ("Paris France", "Paris, France", {}, C),
    # multiple golds
    ("Paris", ["Paris", "Paris, France"], {}, C),
    ("Paris, France", ["Paris", "Paris, France"], {}, C),
    ("Lyon", ["Paris", "Paris, France"], {}, W),
    ("JFK", ["John F. Kennedy", "JFK", "Kennedy"], {}, C),
    ("Kennedy", ["John F. Kennedy", "JFK", "Kennedy"], {}, C),
    ("John Kennedy", ["John F. Kennedy", "JFK"], {}, W),
    ("42", ["forty-two", "42"], {}, C),
    ("forty two", ["forty-two", "42"], {}, W),  # "fortytwo" vs "forty two"
    ("fortytwo", ["forty-two"], {}, C),
    # wrong answers
    ("London", "Paris", {}, W),
    ("Paris Hilton", "Paris", {}, W),
    ("Pari", "Paris", {}, W),
    ("1776", "1777", {}, W),
    # extraction (math rule 1): think, boxed, answer tag, final answer, Answer: line
    ("<think>maybe London</think>Paris", "Paris", {}, C),
    ("<think>it is Paris</think>London", "Paris", {}, W),
    ("<think>still thinking about Paris", "Paris", {}, N),
    ("I think it is \\boxed{Paris}.", "Paris", {}, C),
    ("Reasoning...\n<answer>The Beatles</answer>", "Beatles", {}, C),
    ("Long reasoning. The final answer is Mount Everest.", "Mount Everest", {}, C),
    ("Some steps.\nAnswer: Jupiter", "jupiter", {}, C),
    ("Some steps.\n**Answer:** Saturn", "Saturn", {}, C),
    ("<think>x</think>   ", "Paris", {}, N),
    ("<think>x</think>...", "Paris", {}, N),  # only punctuation: nothing to match
    ("The capital of France is Paris.", "Paris", {}, W),  # exact: the whole sentence is the answer
    # f1 with the default threshold 0.8
    ("The capital of France is Paris.", "Paris", {"qa_match": "f1"}, W),
    ("Eiffel Tower Paris", "the Eiffel Tower", {"qa_match": "f1"}, C),  # P=2/3 R=1 F1=0.8
    ("Eiffel Tower in Paris", "Eiffel Tower", {"qa_match": "f1"}, W),  # P=2/4 R=1 F1=0.667
    ("Barack Obama", "Barack Hussein Obama", {"qa_match": "f1"}, C),  # P=1 R=2/3 F1=0.8
    ("Obama", "Barack Hussein Obama", {"qa_match": "f1"}, W),  # F1=0.5
    ("Obama", "Barack Hussein Obama", {"qa_match": "f1", "f1_threshold": 0.5}, C),
    ("Obama", "Barack Hussein Obama", {"qa_match": "f1", "f1_threshold": 0.51}, W),
    ("New York City", "New York", {"qa_match": "f1"}, C),  # F1=0.8
    ("New York City USA", "New York", {"qa_match": "f1"}, W),  # F1=0.667
    ("New York City USA", "New York", {"qa_match": "f1", "f1_threshold": 0.6}, C),
    ("Berlin", "Paris", {"qa_match": "f1", "f1_threshold": 0.0}, C),  # threshold 0 accepts anything
    ("Berlin", "Paris", {"qa_match": "f1", "f1_threshold": 0.01}, W),
    ("the the the", "a", {"qa_match": "f1"}, N),  # only articles: empty after normalisation
    ("Paris", ["Lyon", "Paris France"], {"qa_match": "f1"}, W),  # best F1 0.667
    ("Paris", ["Lyon", "Paris France"], {"qa_match": "f1", "f1_threshold": 0.6}, C),
    ("Paris", ["Lyon", "Paris"], {"qa_match": "f1", "f1_threshold": 1.0}, C),
    ("dog dog", "dog", {"qa_match": "f1"}, W),  # repeated tokens count once in the overlap: P=1/2
    ("Answer: the Nile river", ["Nile", "River Nile"], {"qa_match": "f1"}, C),
    ("<answer>Amazon</answer>", ["Nile"], {"qa_match": "f1"}, W),
    ("Number: 3,000", "3000", {}, W),  # "number 3000" is not "3000" exactly
    ("Number: 3,000", "3000", {"qa_match": "f1", "f1_threshold": 0.6}, C),
    ("3,000", "3000", {}, C),
    # the second outside attack of 2026-12-05: two answers, a retraction, a negation
    ("The answer is Paris. Actually no, London.", "Paris", {}, W),
    ("Answer: Paris (or London)", "Paris", {}, W),
    ("Answer: Paris (wrong)", "Paris", {}, W),
    ("\\boxed{London} \\boxed{Paris}", "Paris", {}, W),
    ("Answer: not Barack Obama", "Barack Obama", {"qa_match": "f1"}, W),
    ("\\boxed{London}\n\nNo, I misread the map.\n\nSo \\boxed{Paris}", "Paris", {}, C),
    ("\\boxed{Paris}, as said: \\boxed{Paris}", "Paris", {}, C),
    ("Answer: no", ["No"], {}, C),
]


@pytest.mark.parametrize("completion,gold,opts,want", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_qa_table(completion, gold, opts, want) -> None:
    res = score_item({"task": "qa", "completion": completion, "answer": gold, "options": opts})
    assert res["verdict"] == want, res
    assert res["reward"] == (1.0 if want == C else 0.0)
    if want != N:
        assert 0.0 <= res["details"]["f1"] <= 1.0 and res["details"]["gold"] in (gold if isinstance(gold, list) else [gold])


def test_table_size() -> None:
    assert len(CASES) >= 60
    kinds = {"f1": sum(1 for c in CASES if c[2].get("qa_match") == "f1"), "multi": sum(1 for c in CASES if isinstance(c[1], list))}
    assert kinds["f1"] >= 15 and kinds["multi"] >= 10


@pytest.mark.parametrize(
    "text,norm",
    [("The  Quick, brown FOX!", "quick brown fox"), ("an apple a day", "apple day"), ("U.S.", "us"), ("", ""),
     ("Ａｎ ＡＰＰＬＥ", "apple")],
)
def test_normalize(text, norm) -> None:
    assert normalize(text) == norm


def test_f1_matches_squad_definition() -> None:
    assert f1("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))
    assert f1("", "") == 1.0 and f1("x", "") == 0.0


@pytest.mark.parametrize("answer", [None, "", [], ["  "], {"a": 1}])
def test_missing_golds_are_errors(answer) -> None:
    res = score_item({"task": "qa", "completion": "Paris", "answer": answer})
    assert res["verdict"] == "error" and res["reward"] is None


def test_mutants_flip_or_keep() -> None:
    """A changed letter flips exact match; case, articles, spacing and punctuation changes do not."""
    gold = "Saint Petersburg"
    assert score_item({"task": "qa", "completion": "Saint Petersburg", "answer": gold})["verdict"] == C
    for keep in ("saint petersburg", "The Saint Petersburg.", " Saint  Petersburg ", "Saint-Petersburg"[:0] + "SAINT PETERSBURG!"):
        assert score_item({"task": "qa", "completion": keep, "answer": gold})["verdict"] == C, keep
    for i in range(len(gold)):
        if gold[i].isalpha():
            mutant = gold[:i] + ("x" if gold[i].lower() != "x" else "y") + gold[i + 1:]
            assert score_item({"task": "qa", "completion": mutant, "answer": gold})["verdict"] == W, mutant


def test_http_qa_and_validation(embedded_server: str) -> None:
    items = [
        {"task": "qa", "completion": "<think>hmm</think>\\boxed{Paris}", "answer": ["Paris", "Paris, France"], "group": "q"},
        {"task": "qa", "completion": "Lyon", "answer": "Paris", "group": "q"},
        {"task": "qa", "completion": "Eiffel Tower Paris", "answer": "Eiffel Tower", "options": {"qa_match": "f1", "f1_threshold": 0.6}},
        {"task": "qa", "completion": "Paris"},
        {"task": "math", "completion": "\\boxed{4}", "answer": ["4"]},
        {"task": "qa", "completion": "Paris", "answer": "Paris", "options": {"qa_match": "fuzzy"}},
    ]
    r = post(embedded_server, "/v1/score", {"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["verdict"] for x in res] == ["correct", "incorrect", "correct", "error", "error", "error"]
    assert res[0]["extracted"] == "Paris"
    assert [x["details"]["error"]["field"] for x in res[3:]] == ["items[3].answer", "items[4].answer", "items[5].options.qa_match"]
    assert r.json()["groups"]["q"]["pass_rate"] == 0.5
    # OpenRLHF with ?task=qa: list labels stay lists of golds
    out = post(embedded_server, "/get_reward?task=qa", {"query": ["Q? A: Rome", "Q? A: Milan"], "prompts": ["Q? A: ", "Q? A: "],
                                                      "labels": [["Rome", "Roma"], "Rome"]}).json()
    assert out["verdicts"] == ["correct", "incorrect"]
