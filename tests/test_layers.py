"""The house's arrows point one way: verirl_app -> service / workers -> verirl -> sandbox.

Every import statement of every module (at any depth: a lazy import inside a
function counts too) is read with ``ast`` and checked against the layer rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.procs import REPO

#: package -> top-level packages of this repository it must never import
FORBIDDEN = {
    "sandbox": {"verirl", "service", "workers", "verirl_app"},
    "verirl": {"service", "workers", "verirl_app"},
    "service": {"workers", "verirl_app"},
    "workers": {"service", "verirl_app"},
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in a module, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside its own package
                out.append((node.lineno, package))
            elif node.module:
                out.append((node.lineno, node.module.split(".")[0]))
    return out


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_arrows(package: str) -> None:
    files = _modules(package)
    assert files, f"no modules under {package}/"
    bad = [
        f"{f.relative_to(REPO)}:{line} imports {mod}"
        for f in files
        for line, mod in _imports(f, package)
        if mod in FORBIDDEN[package]
    ]
    assert not bad, "imports against the arrows:\n" + "\n".join(bad)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The rule is not vacuous: an import inside a function is found, a relative one is not misread."""
    f = tmp_path / "m.py"
    f.write_text("from . import x\n\ndef cmd():\n    from service.app import create_app\n    import workers.main\n")
    assert [m for _, m in _imports(f, "verirl")] == ["verirl", "service", "workers"]


def test_console_script_is_the_composition_root() -> None:
    """`verirl` runs verirl_app (which adds serve/worker); the core parser has only the data tools."""
    import tomllib

    from verirl.cli import build_parser
    from verirl_app import build_parser as app_parser

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["verirl"] == "verirl_app:main"

    def subcommands(parser) -> set[str]:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        return set(sub.choices)

    assert subcommands(build_parser()) == {"filter", "benchmarks"}
    assert subcommands(app_parser()) == {"serve", "worker", "filter", "benchmarks"}
