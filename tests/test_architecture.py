"""The import direction between the rooms (pyproject [tool.importlinter]) is kept.

cli → api → agent → tools → knowledge | speech → crm → core, and the product never imports bench
or evals. `lint-imports` checks the contracts; these tests run it in the suite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

BROKEN_IMPORT = re.compile(r"^-\s+([\w.]+) -> ([\w.]+)", re.M)


def lint_imports() -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}  # one line per contract name
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def report() -> subprocess.CompletedProcess:
    result = lint_imports()
    assert "Contracts:" in result.stdout, result.stdout + result.stderr  # it ran (not a config error)
    return result


def test_every_contract_of_pyproject_is_checked(report):
    assert "the product imports neither bench nor evals" in report.stdout
    assert "each imports only the rooms below it" in report.stdout


def test_all_import_contracts_are_kept(report):
    """A new upward import (say, crm importing api) fails here, naming the import."""
    broken = sorted(set(BROKEN_IMPORT.findall(report.stdout)))
    assert report.returncode == 0 and broken == [], report.stdout
