"""Every refusal of `verirl filter` says what is wrong and what to do (issue 21, items 9, 10, 12)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.procs import BIN, REPO, clean_env
from verirl.cli import main


def _err(argv: list[str], capsys, monkeypatch, cwd: Path) -> str:
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("VERIRL_DATA_DIR", str(cwd / "data"))
    from verirl.settings import get_settings

    get_settings.cache_clear()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    return err


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    rows = [{"id": "a", "problem": "What is 2+2?", "answer": "4", "completion": "\\boxed{4}", "rollouts": [True, False]}]
    p = tmp_path / "in.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


@pytest.mark.parametrize(("name", "content", "says"), [
    ("empty.jsonl", "", "the file is empty or holds only blank lines: no rows"),
    ("blank.jsonl", "\n\n   \n", "the file is empty or holds only blank lines: no rows"),
    ("empty.csv", "", "the file is empty or holds only blank lines: no rows"),
    ("header.csv", "id,problem\n", "no rows (a header line only)"),
    ("bad.jsonl", '{"problem": "a"}\n{"problem": "b"}\n{"problem": oops}\n', "line 3 is not valid JSON"),
    ("list.jsonl", '{"problem": "a"}\n["b"]\n', "line 2 is a JSON list, not an object"),
])
def test_unreadable_inputs_name_the_file_and_the_place(tmp_path, capsys, monkeypatch, name, content, says) -> None:
    (tmp_path / name).write_text(content)
    err = _err(["filter", name, "--out", "o.jsonl", "--dedup", "--quiet"], capsys, monkeypatch, tmp_path)
    assert f"verirl: error: {name}: " in err and says in err, err
    assert "An error occurred while generating" not in err and "corresponds to no data" not in err


def test_verify_refuses_a_list_of_completions(tmp_path, capsys, monkeypatch) -> None:
    rows = [{"id": "a", "problem": "p", "answer": "4", "completion": ["\\boxed{4}", "\\boxed{5}"]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    err = _err(["filter", "in.jsonl", "--out", "o.jsonl", "--verify", "--quiet", "--num-proc", "1"], capsys, monkeypatch, tmp_path)
    assert "column 'completion' holds a list of completions" in err
    assert "--difficulty --rollouts-field completion" in err
    assert not (tmp_path / "o.jsonl").exists()

    # The same list written as JSON text in a CSV column is refused the same way.
    (tmp_path / "in.csv").write_text('id,problem,answer,completion\na,p,4,"[""\\\\boxed{4}"", ""x""]"\n')
    err = _err(["filter", "in.csv", "--out", "o.jsonl", "--verify", "--quiet", "--num-proc", "1"], capsys, monkeypatch, tmp_path)
    assert "--difficulty --rollouts-field completion" in err, err


def test_unknown_output_extension_is_refused(rows_file, capsys, monkeypatch) -> None:
    err = _err(["filter", rows_file.name, "--out", "o.txt", "--dedup", "--quiet"], capsys, monkeypatch, rows_file.parent)
    assert "--out o.txt: unknown extension '.txt'" in err and ".jsonl" in err and "save_to_disk" in err
    assert not (rows_file.parent / "o.txt").exists()


def test_hints_name_the_flag_to_use(rows_file, capsys, monkeypatch) -> None:
    d = rows_file.parent
    err = _err(["filter", rows_file.name, "--out", "o.jsonl", "--difficulty", "--rollouts-field", "samples", "--quiet"],
               capsys, monkeypatch, d)
    assert "no column 'samples' (rollouts); name the rollouts column with --rollouts-field" in err, err

    (d / "q.jsonl").write_text(json.dumps({"id": "a", "body": "x"}) + "\n")
    err = _err(["filter", "q.jsonl", "--out", "o.jsonl", "--dedup", "--quiet"], capsys, monkeypatch, d)
    assert "no problem text column" in err and "name it with --text-field" in err and "'body'" in err, err

    err = _err(["filter", rows_file.name, "--out", "o.jsonl", "--dedup", "--keep", "pass_rate > 0.5", "--quiet"],
               capsys, monkeypatch, d)
    assert "pass_rate is added by --difficulty" in err, err

    err = _err(["filter", rows_file.name, "--out", "o.jsonl", "--decontaminate", "aime24", "--quiet"], capsys, monkeypatch, d)
    assert "not registered in the benchmark store" in err and str(d / "data" / "benchmarks") in err, err
    assert "verirl benchmarks add aime24 FILE" in err and "VERIRL_DATA_DIR" in err


_CLIENT_ONLY = r'''
import importlib.abc, sys

class NoExtras(importlib.abc.MetaPathFinder):
    """What a `pip install verirl` without extras has: none of the data or server packages."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "datasets", "pyarrow", "rensa", "xxhash", "uvicorn", "fastapi", "redis", "rq"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoExtras())
from verirl_app import main
sys.exit(main(sys.argv[1:]))
'''


def test_a_client_only_install_is_told_which_extra_to_install(rows_file) -> None:
    for args, extra in ((["filter", str(rows_file), "--out", "o.jsonl", "--dedup", "--quiet"], "data"),
                        (["serve", "--port", "1"], "server")):
        r = subprocess.run([str(BIN / "python"), "-c", _CLIENT_ONLY, *args], cwd=REPO, env=clean_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        assert f"`verirl {args[0]}` needs the '{extra}' extra" in r.stderr, r.stderr
        assert f"pip install 'verirl[{extra}]'" in r.stderr and "Traceback" not in r.stderr, r.stderr
