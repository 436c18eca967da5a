"""``repcopilot calls``: analyze and ingest call recordings and transcripts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.state import STATE, console, err_console, print_json
from core.errors import UserInputError
from crm.db import session_factory

calls_app = typer.Typer(help="Call recordings and transcripts → speaker turns → conversation metrics.", no_args_is_help=True)

RepChannel = Annotated[str, typer.Option("--rep-channel", help="which stereo channel is the rep: left | right")]
Language = Annotated[str, typer.Option("--language", help="zh | en | auto (auto detects once, then forces it)")]
RepSpeaker = Annotated[
    str | None, typer.Option("--rep-speaker", help="for VTT/JSON transcripts: the name of the rep as it appears there")
]


def _check(rep_channel: str, language: str) -> None:
    if rep_channel not in ("left", "right"):
        raise UserInputError(f"--rep-channel {rep_channel!r}: use left or right")
    if language not in ("zh", "en", "auto"):
        raise UserInputError(f"--language {language!r}: use zh, en or auto")


@calls_app.command("analyze")
def calls_analyze(
    file: Annotated[Path, typer.Argument(help="a recording (WAV, MP3, M4A, OGG …) or a transcript (.vtt, .json)")],
    rep_channel: RepChannel = "left",
    language: Language = "auto",
    rep_speaker: RepSpeaker = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print a call's speaker turns and metrics. Writes nothing to the database."""
    from speech.registry import load_registry
    from tools.calls import analyze

    _check(rep_channel, language)
    settings = STATE.settings
    with _audio_progress(enabled=not as_json) as on_audio:
        result = analyze(file, home=STATE.home, rep_channel=rep_channel, language=language,
                         model=settings.whisper_model, rep_speaker=rep_speaker, on_progress=on_audio)
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"{file.name}: {result.duration_s:.1f} s, language {result.language}, "
                  f"{'rep/customer separated' if result.speaker_separation else 'no speaker separation'}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    turns = Table("start", "end", "speaker", "text")
    for t in result.turns:
        turns.add_row(f"{t.start_s:.2f}", f"{t.end_s:.2f}", t.speaker, t.text)
    console.print(turns)
    _metrics_table(result.metrics, load_registry(), settings_language="en")


def _metrics_table(metrics: dict, registry: dict, settings_language: str) -> None:
    table = Table("metric", "value", "unit")
    for name, value in metrics.items():
        entry = registry.get(name)
        label = entry.label_en if entry else name
        unit = entry.unit if entry else ""
        shown = "n/a" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
        table.add_row(f"{label} ({name})", shown, unit)
    console.print(table)


@calls_app.command("ingest")
def calls_ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of recordings / transcripts")],
    rep: Annotated[str, typer.Option("--rep", help="login of the rep on these calls")],
    account: Annotated[int | None, typer.Option("--account", help="account id the calls belong to")] = None,
    rep_channel: RepChannel = "left",
    language: Language = "auto",
    rep_speaker: RepSpeaker = None,
) -> None:
    """Store calls with their turns and metrics. Idempotent by content hash; a bad file is
    reported and the rest go on; an interrupted batch resumes without duplicates."""
    from tools.calls import ingest_paths

    _check(rep_channel, language)
    engine = STATE.engine()
    factory = session_factory(engine)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        files_task = progress.add_task("files", total=None)
        audio_task = progress.add_task("audio s", total=None, visible=False)

        def on_file(path: Path, i: int, n: int) -> None:
            progress.update(files_task, total=n, completed=i, description=f"files · {path.name}")
            progress.update(audio_task, completed=0, total=None, visible=False)

        def on_audio(done: float, total: float) -> None:
            progress.update(audio_task, completed=int(done), total=int(total) or None, visible=True)

        report = ingest_paths(factory, paths, rep_login=rep, home=STATE.home, account_id=account,
                              language=language, rep_channel=rep_channel, model=STATE.settings.whisper_model,
                              rep_speaker=rep_speaker, on_file=on_file, on_audio=on_audio)
    for r in report.results:
        if r.status == "failed":
            err_console.print(f"[red]failed[/red] {r.path}: {r.message}", highlight=False)
        elif r.status == "skipped":
            console.print(f"skipped {r.path}: {r.message}", highlight=False)
        else:
            console.print(f"ingested {r.path} → call {r.call_id}" + (f" ({r.message})" if r.message else ""), highlight=False)
    console.print(f"{report.count('ingested')} ingested, {report.count('skipped')} skipped, {report.count('failed')} failed")
    if report.count("failed") and not report.count("ingested") and not report.count("skipped"):
        raise typer.Exit(1)


class _audio_progress:
    """A transient progress bar over audio seconds for one file."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(TextColumn("audio s"), BarColumn(), MofNCompleteColumn(),
                                 console=err_console, transient=True, disable=not enabled)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("audio", total=None)

        def update(done: float, total: float) -> None:
            self.progress.update(self.task, completed=int(done), total=int(total) or None)

        return update

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
