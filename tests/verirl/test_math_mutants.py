"""Mutation testing of the math grader: value changes must fail, spelling changes must pass.

``make test`` grades a fixed random sample; ``make test-slow`` grades every mutant (>= 20,000).
"""

from __future__ import annotations

import random

import pytest

from tests.verirl.math_mutants import all_cases
from verirl.math.grader import grade

SAMPLE = 400


@pytest.fixture(scope="module")
def cases():
    return all_cases()


def _false_positives(rows):
    return [(g, c[-90:], k) for g, c, k in rows if grade(c, g).verdict == "correct"]


def _flips(rows):
    return [(g, c[-90:], k, grade(c, g).verdict) for g, c, k in rows if grade(c, g).verdict != "correct"]


def test_every_mutation_kind_is_generated(cases):
    bad, good = cases
    assert {k for *_x, k in bad} >= {"digit", "sign", "x10", "swap", "bracket", "drop_term", "percent"}
    assert {k for *_x, k in good} >= {"whitespace", "left_right", "dfrac", "tfrac", "dollars", "the_answer_is", "unit"}


def test_mutants_sample_are_incorrect(cases):
    bad, _good = cases
    rng = random.Random(11)
    assert _false_positives(rng.sample(bad, min(SAMPLE, len(bad)))) == []


def test_perturbations_stay_correct(cases):
    _bad, good = cases
    assert _flips(good) == []


@pytest.mark.slow
def test_all_mutants_are_incorrect(cases, capsys):
    bad, _good = cases
    assert len(bad) >= 20_000
    fps = _false_positives(bad)
    with capsys.disabled():
        print(f"\nmath mutants: {len(bad)} graded, {len(fps)} false positives")
    assert fps == []
