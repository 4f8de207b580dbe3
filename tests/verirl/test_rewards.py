"""Reward shaping: table tests with hand-computed values at the boundaries."""

from __future__ import annotations

import math

import pytest

from verirl.batch import group_stats
from verirl.errors import InvalidInput
from verirl.rewards import cosine_scaled, dapo_overlong, repetition_penalty, shape_reward, validate_spec


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, 0.0), (3000, 0.0), (3072, 0.0), (3584, -0.5), (4096, -1.0), (4097, -1.0), (10_000, -1.0)],
)
def test_dapo_overlong(length, expected):
    # L_max = 4096, L_cache = 1024: 0 up to 3072, linear to -1 at 4096, -1 beyond
    assert dapo_overlong(length, 4096, 1024) == pytest.approx(expected)


P = {"min_value_correct": 0.5, "max_value_correct": 1.0, "min_value_wrong": -1.0, "max_value_wrong": -0.5, "exceed_penalty": -1.0}


@pytest.mark.parametrize(
    ("length", "correct", "expected"),
    [
        (0, True, 1.0),  # shortest right answer: max reward
        (500, True, 0.75),  # cos(pi/2) = 0: the midpoint
        (1000, True, 0.5),
        (0, False, -1.0),  # shortest wrong answer: the largest penalty
        (500, False, -0.75),
        (1000, False, -0.5),
        (1001, True, -1.0),  # past max_len: exceed penalty
        (250, True, 0.5 + 0.25 * (1 + math.cos(math.pi / 4))),
    ],
)
def test_cosine(length, correct, expected):
    assert cosine_scaled(length, 1000, correct, P) == pytest.approx(expected)


def test_repetition():
    assert repetition_penalty("a b c d e", 3, -1.0) == 0.0
    assert repetition_penalty("a a a a a", 3, -1.0) == pytest.approx(-1.0 * (1 - 1 / 3))
    assert repetition_penalty("a b", 3, -1.0) == 0.0


def test_breakdown_sums_to_total_and_token_counts_win():
    item = {"completion": "<think>x</think><answer>7</answer>", "num_tokens": 3584}
    spec = {"accuracy": {"weight": 1.0}, "format": {"weight": 0.5, "pattern": "think_answer"}, "length": {"type": "dapo", "max_len": 4096, "cache_len": 1024}}
    total, br = shape_reward(item, "correct", 1.0, spec)
    assert br["accuracy"] == 1.0 and br["format"] == 0.5 and br["length"] == pytest.approx(-0.5)
    assert br["length_unit"] == "tokens"
    assert total == pytest.approx(1.0)
    item2 = {"completion": "word " * 10}
    _, br2 = shape_reward(item2, "incorrect", 0.0, {"length": {"type": "cosine", "max_len": 100}})
    assert br2["length_unit"] == "words" and br2["accuracy"] == 0.0


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"bogus": 1}, "options.reward.bogus"),
        ({"length": {"type": "linear", "max_len": 5}}, "options.reward.length.type"),
        ({"length": {"type": "dapo", "max_len": 5, "cache_len": 9}}, "options.reward.length.cache_len"),
        ({"format": {"pattern": "nope"}}, "options.reward.format.pattern"),
        ({"format": {"regex": "("}}, "options.reward.format.regex"),
        ({"accuracy": {"wrong": "x"}}, "options.reward.accuracy.wrong"),
        ("nope", "options.reward"),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(InvalidInput) as ei:
        validate_spec(spec)
    assert ei.value.field == field


@pytest.mark.parametrize(
    ("verdict", "acc", "expected"),
    [("correct", 1.0, 1.0), ("incorrect", 0.0, -1.0), ("no_answer", 0.0, -1.0), ("incorrect", 0.75, 0.5)],
)
def test_accuracy_wrong_value_interpolates(verdict, acc, expected):
    # weight x acc + wrong x (1 - acc): DAPO's +1/-1; code fractions in between
    total, br = shape_reward({"completion": "x"}, verdict, acc, {"accuracy": {"weight": 1.0, "wrong": -1.0}})
    assert total == pytest.approx(expected) and br["accuracy"] == pytest.approx(expected)


def test_presets():
    assert validate_spec("accuracy") == {"accuracy": {"weight": 1.0}}
    think = {"completion": "<think>a</think> \\boxed{1}"}
    assert shape_reward(think, "correct", 1.0, validate_spec("r1"))[0] == 1.5
    assert shape_reward({"completion": "\\boxed{1}"}, "correct", 1.0, "r1")[0] == 1.0
    # dapo: -1 for wrong, and the overlong term counted in tokens (20480 max, 4096 cache)
    long_wrong = {"completion": "x", "num_tokens": 18432}
    total, br = shape_reward(long_wrong, "incorrect", 0.0, "dapo")
    assert br["accuracy"] == -1.0 and br["length"] == pytest.approx(-0.5) and total == pytest.approx(-1.5)


def _res(v, r):
    return {"verdict": v, "reward": r}


def test_zero_variance_groups():
    items = [{"group": "same"}] * 16 + [{"group": "mixed"}] * 16
    results = [_res("correct", 1.0)] * 16 + [_res("correct", 1.0)] * 8 + [_res("incorrect", 0.0)] * 8
    g = group_stats(items, results)
    assert g["same"]["zero_variance"] is True and g["same"]["std"] == 0.0 and g["same"]["pass_rate"] == 1.0
    assert g["mixed"]["zero_variance"] is False and g["mixed"]["mean"] == 0.5 and g["mixed"]["std"] == 0.5
    failing = group_stats([{"group": "f"}] * 2, [_res("error", None), _res("correct", 1.0)])
    assert failing["f"]["failures"] == 1 and failing["f"]["size"] == 2


def test_format_checks_stay_linear_and_a_callers_regex_has_a_budget():
    from verirl.rewards import format_ok

    # "<answer>" * 20000 made the lazy tag regex scan to the end from every opener (11 s)
    assert format_ok("<answer>" * 20000, {"pattern": "answer_tag"}) is False
    assert format_ok("x <answer>4</answer>", {"pattern": "answer_tag"}) is True
    assert format_ok("</answer> <answer>", {"pattern": "answer_tag"}) is False
    # a caller's regex with catastrophic backtracking on the completion: not followed, never a hang
    assert format_ok("a" * 40 + "!", {"regex": r"^(a|aa)+$"}) is False
    assert format_ok("aaaa", {"regex": r"^(a|aa)+$"}) is True


def test_words_count_cjk_characters_and_zero_width_joins():
    # the second outside attack: "解" * 30000 was one word, so DAPO's overlong penalty never applied
    from verirl.rewards import count_words

    assert count_words("解" * 30000 + "。答案是 7") == 30000 + 4 + 1
    assert count_words("word\u200b" * 5000) == 5000
    assert count_words("The answer is 7.") == 4
    spec = validate_spec("dapo")
    long_cjk = {"task": "math", "completion": "解" * 30000 + "。答案是 7", "answer": "7"}
    reward, br = shape_reward(long_cjk, "correct", 1.0, spec)
    assert br["length_unit"] == "words" and br["length"] == -1.0 and reward == 0.0, br  # +1 accuracy, -1 overlong
