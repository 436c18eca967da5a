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

# Broken imports whose fixes are in flight in other changes (issue 21): the importing module → who fixes it
OWNED_ELSEWHERE = {
    "core.blobs": "core/blobs.py stops importing crm",
    "knowledge.store": "knowledge/store.py stops importing speech",
    "crm.demo": "crm/demo.py stops importing tools",
}
BENCH_MODULE = re.compile(r"(^|\.)(bench|\w+_bench)$")  # benchmarks inside product packages move to a top-level bench/
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


def test_no_import_breaks_a_contract_except_those_being_moved_elsewhere(report):
    """A new upward import (say, crm importing api) fails here at once; the known ones are
    listed above with the change that removes them."""
    broken = set(BROKEN_IMPORT.findall(report.stdout))
    unexpected = sorted((a, b) for a, b in broken if a not in OWNED_ELSEWHERE and not BENCH_MODULE.search(a))
    assert unexpected == [], report.stdout


@pytest.mark.xfail(strict=False, reason="core.blobs, knowledge.store, crm.demo and the bench modules inside product "
                                        "packages are being fixed in other issue-21 changes")
def test_all_import_contracts_are_kept(report):
    assert report.returncode == 0, report.stdout
