"""The import contracts of pyproject.toml hold for the tree and catch what they forbid.

Each breaking case copies the package to a temporary folder, adds one import there and runs
``lint-imports`` on the copy, so the real tree is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its pyproject.toml with ``line`` added to ``module``."""
    shutil.copytree(ROOT / "market", tmp_path / "market",
                    ignore=shutil.ignore_patterns("__pycache__", "translations"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "market" / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # trading reaching past compliance's services into its models
    ("trading/services/payment.py", "from market.compliance.models import Decision",
     "compliance is entered only through its services"),
    # the regulator borrowing trading's HTTP helpers
    ("regulator/services.py", "from market.trading import api",
     "trading is entered only through its services"),
    # a topic module of another context's services package
    ("listing/services/trade.py", "from market.rights.services import queries",
     "rights is entered only through its services"),
    # an upward import inside a context
    ("trading/models.py", "from market.trading import repository",
     "Inside a context, api -> services -> repository -> models -> domain"),
    # the web stack below the services
    ("rights/domain.py", "import flask", "Domain and models never import the web stack"),
    # the kernel knowing a context
    ("kernel/audit.py", "from market.participants import services",
     "Kernel knows no context"),
    # a context importing one above it
    ("settlement/services/escrow.py", "from market.trading import services",
     "Bounded contexts are layered"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                broken: str) -> None:
    result = lint(copy_with(tmp_path, module, line))
    assert result.returncode != 0, result.stdout
    report = result.stdout[result.stdout.index("Broken contracts"):]
    assert broken in report, report
