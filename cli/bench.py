"""``repcopilot bench``: the command; the sections and the runner are in the top-level ``bench`` package."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.state import STATE, console


def bench_command(
    sections: Annotated[list[str] | None, typer.Argument(help="sections to run (default: all)", show_default=False)] = None,
    scale: Annotated[int | None, typer.Option(min=1, help="demo scale where a section builds data (default: the section's own)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Run the benchmark sections and print their figures."""
    from bench import print_json, print_tables, run_benchmarks

    def announce(name: str, description: str) -> None:
        if not as_json:
            console.print(f"[bold]{name}[/bold] — {description} …")

    results = run_benchmarks(sections, scale=scale, settings=lambda: STATE.settings, on_section=announce)
    if as_json:
        print_json(results)
    else:
        print_tables(results, console)
