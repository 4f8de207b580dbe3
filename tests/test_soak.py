"""`make test-slow`: a sustained mixed load on a distributed deployment, nothing lost or duplicated."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.procs import REPO, clean_env


@pytest.mark.slow
def test_sustained_mixed_load_loses_nothing(math_cot_rows) -> None:
    """bench/load.py: 1 API + 2 workers, 64 clients, 300 requests of 16 math and code items.

    The script asserts that every request gets exactly its item ids, in order, with the
    expected code verdicts, and exits non-zero otherwise.
    """
    p = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--requests", "300"], env=clean_env(),
                       capture_output=True, text=True, timeout=900, cwd=REPO)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "| 300 | 4800 |" in p.stdout and p.stdout.rstrip().endswith("| 0 |")
    print(p.stdout)
