"""The benchmark runner lists its sections and refuses unknown ones; benchmarks and evals sit
above the product: no product package imports them, and crm/ imports only core/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bench
from core.errors import UserInputError

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("agent", "api", "cli", "core", "crm", "knowledge", "speech", "tools")
PROJECT = (*PRODUCT, "bench", "evals", "prompts")
#: the commands that run benchmarks and evals
COMMANDS = {"cli/bench.py": "bench", "cli/evals.py": "evals"}


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every import in the file, module-level and inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_runner_lists_every_section_with_a_description():
    assert list(bench.SECTIONS) == ["demo", "kpi", "agent", "kb", "profiles", "speech", "leads", "blobs", "api"]
    assert all(description and callable(fn) for description, fn in bench.SECTIONS.values())
    assert bench.chosen_sections(None) == list(bench.SECTIONS)
    assert bench.chosen_sections(["leads", "demo"]) == ["leads", "demo"]


def test_every_section_has_its_module_in_the_bench_package():
    modules = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__"}
    assert modules == {"api", "agent", "demo", "kb", "speech", "leads", "profiles", "kpi", "blobs", "loadgen"}


def test_an_unknown_section_is_refused_before_anything_runs_and_names_the_choices():
    ran: list[str] = []
    with pytest.raises(UserInputError, match=r"unknown bench section\(s\) nope; choose from demo, kpi, agent"):
        bench.run_benchmarks(["demo", "nope"], scale=None, settings=lambda: None, on_section=lambda n, _d: ran.append(n))
    assert ran == []


def test_a_section_reports_its_figures_and_its_wall_time(monkeypatch):
    monkeypatch.setitem(bench.SECTIONS, "demo", ("a stand-in", lambda scale, _settings: {"scale": scale}))
    announced: list[tuple[str, str]] = []
    results = bench.run_benchmarks(["demo"], scale=3, settings=lambda: None,
                                   on_section=lambda n, d: announced.append((n, d)))
    assert announced == [("demo", "a stand-in")]
    assert results["demo"]["scale"] == 3 and results["demo"]["section_wall_s"] >= 0


def test_no_product_module_imports_bench_or_evals_except_their_commands():
    offenders = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            allowed = {COMMANDS[rel]} if rel in COMMANDS else set()
            if bad := (imported_packages(path) & {"bench", "evals"}) - allowed:
                offenders.append(f"{rel} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_the_commands_do_import_what_they_run():
    assert "bench" in imported_packages(ROOT / "cli/bench.py")
    assert "evals" in imported_packages(ROOT / "cli/evals.py")


def test_crm_imports_no_project_package_but_core():
    offenders = []
    for path in (ROOT / "crm").rglob("*.py"):
        if bad := (imported_packages(path) & set(PROJECT)) - {"crm", "core"}:
            offenders.append(f"{path.relative_to(ROOT).as_posix()} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from tools.calls import x\n    import evals.demo\n")
    assert imported_packages(sample) == {"os", "tools", "evals"}
