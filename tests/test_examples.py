"""Every script in examples/ runs against a real server and checks its own answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.procs import REPO, clean_env

EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {
        "client_quickstart.py", "openrlhf_remote_reward.py", "slime_remote_reward.py", "verl_reward.py", "trl_reward.py",
    }


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, embedded_server: str) -> None:
    p = subprocess.run([sys.executable, str(script)], env=clean_env(VERIRL_URL=embedded_server), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
