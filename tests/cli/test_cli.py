"""The `repcopilot` command as a user runs it: real processes, real databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=full_env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"repcopilot {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def test_init_demo_twice_leaves_the_same_counts(db_url, tmp_path):
    env = {"REPCOPILOT_DATABASE_URL": db_url, "REPCOPILOT_HOME": str(tmp_path / "home")}
    run("init", "--demo", "--as-of", "2026-11-20", env=env)
    first = json.loads(run("demo", "stats", "--json", env=env).stdout)
    second_init = run("init", "--demo", env=env)
    second = json.loads(run("demo", "stats", "--json", env=env).stdout)
    assert "already there" in second_init.stdout
    assert first == second
    assert first["leads"] == 2000 and first["touchpoints"] == 50000


def test_demo_users_lists_every_role_with_team_region_and_language(demo_home):
    users = json.loads(run("--home", demo_home, "demo", "users", "--json").stdout)
    assert set(users[0]) == {"login", "name", "role", "team", "region", "language"}
    roles = {u["role"] for u in users}
    assert roles == {"rep", "manager", "trainer", "admin"}
    assert {u["region"] for u in users if u["role"] == "rep"} == {"华东", "华南", "华北", "西部"}
    assert {"zh", "en"} <= {u["language"] for u in users}


def test_leads_list_shows_a_rep_only_their_leads_and_a_manager_the_team(demo_home):
    mine = json.loads(run("--home", demo_home, "leads", "list", "--as", "zhangwei", "--json").stdout)
    team = json.loads(run("--home", demo_home, "leads", "list", "--as", "chenjing", "--json").stdout)
    users = json.loads(run("--home", demo_home, "demo", "users", "--json").stdout)
    east = {u["login"] for u in users if u["team"] == "华东销售一组"}
    assert mine and {lead["owner"] for lead in mine} == {"zhangwei"}
    assert set(mine[0]) == {"id", "name", "account", "owner", "status", "value_cny"}
    assert {lead["owner"] for lead in team} - {None} <= east
    assert len(team) > len(mine)
    assert {lead["id"] for lead in mine} <= {lead["id"] for lead in team}


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_an_unwritable_home_gives_one_line_saying_what_to_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = _one_line_error(run("--home", str(blocker / "home"), "init", check=False))
    assert "--home" in line and "REPCOPILOT_HOME" in line


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/test", "nosuchdialect://x"])
def test_a_database_url_that_cannot_connect_gives_one_line_saying_what_to_fix(url, tmp_path):
    line = _one_line_error(run("init", env={"REPCOPILOT_DATABASE_URL": url, "REPCOPILOT_HOME": str(tmp_path)}, check=False))
    assert "REPCOPILOT_DATABASE_URL" in line


def test_commands_before_init_say_to_run_init(tmp_path):
    line = _one_line_error(run("--home", str(tmp_path), "demo", "stats", check=False))
    assert "repcopilot init" in line


def test_every_command_has_help():
    for args in (["--help"], ["init", "--help"], ["demo", "stats", "--help"], ["demo", "users", "--help"],
                 ["leads", "list", "--help"], ["bench", "--help"]):
        out = run(*args).stdout
        assert "Usage" in out


def test_bench_reports_demo_build_time_and_bulk_insert_rate():
    figures = json.loads(run("bench", "demo", "--json").stdout)["demo"]
    assert figures["rows"] > 60_000
    assert figures["demo_build_s"] > 0 and figures["bulk_insert_rows_per_s"] > 0
    assert figures["insert_ratio_vs_bare"] == pytest.approx(figures["bulk_insert_s"] / figures["bare_sqlite3_insert_s"], rel=0.02)


def test_the_installed_console_script_runs_from_any_folder(tmp_path):
    """What `make run` calls: the entry point must import from the installed distribution, not the checkout."""
    script = Path(sys.executable).parent / "repcopilot"
    if not script.exists():
        pytest.skip("the project is not installed in this interpreter's environment (run `make install`)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("REPCOPILOT_")}
    proc = subprocess.run([str(script), "--home", str(tmp_path / "home"), "init"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "schema at revision" in proc.stdout


def test_suggestions_are_listed_and_a_decision_is_recorded_once(demo_home):
    rows = json.loads(run("--home", demo_home, "suggestions", "--as", "zhangwei", "--status", "shown", "--json").stdout)
    assert rows and {r["owner_login"] for r in rows} == {"zhangwei"}
    sid = str(rows[0]["id"])
    first = json.loads(run("--home", demo_home, "suggestion", "dismiss", sid, "--as", "zhangwei", "--json").stdout)
    again = json.loads(run("--home", demo_home, "suggestion", "dismiss", sid, "--as", "zhangwei", "--json").stdout)
    assert first["changed"] is True and again["changed"] is False
    assert first["suggestion"]["status"] == again["suggestion"]["status"] == "dismissed"
    flip = run("--home", demo_home, "suggestion", "adopt", sid, "--as", "zhangwei", check=False)
    assert "已忽略" in _one_line_error(flip)  # zhangwei reads Chinese


def test_leads_journey_prints_an_accounts_stages_and_refuses_another_reps_account(demo_home):
    mine = json.loads(run("--home", demo_home, "leads", "list", "--as", "zhangwei", "--json").stdout)
    journey = json.loads(run("--home", demo_home, "leads", "journey", f"lead {mine[0]['id']}", "--as", "zhangwei",
                             "--json").stdout)
    assert journey["account"] == mine[0]["account"]
    assert sum(1 for s in journey["stages"] if s["current"]) == 1
    times = [e["time"] for s in journey["stages"] for e in s["events"]]
    assert times == sorted(times)
    team = json.loads(run("--home", demo_home, "leads", "list", "--as", "chenjing", "--json").stdout)
    other = next(lead for lead in team if lead["owner"] not in ("zhangwei", None))
    refused = run("--home", demo_home, "leads", "journey", f"lead {other['id']}", "--as", "zhangwei", check=False)
    assert _one_line_error(refused)


def test_chat_with_an_llm_prints_the_streamed_answer_and_keeps_the_thread(demo_home):
    from evals.scripted_llm import ScriptedServer, text_reply

    script = [text_reply("Hello from the model, streamed word by word."), text_reply("Still the same conversation.")]
    with ScriptedServer(script) as server:
        proc = subprocess.run([sys.executable, "-m", "cli.main", "--home", demo_home, "chat", "--as", "davidchen"],
                              input="hi\nand again\nexit\n", capture_output=True, text=True, timeout=300,
                              env={**{k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")},
                                   "REPCOPILOT_LLM_BASE_URL": server.base_url, "REPCOPILOT_LLM_MODEL": "scripted"})
    assert proc.returncode == 0, proc.stderr
    assert "Hello from the model, streamed word by word." in proc.stdout
    assert "Still the same conversation." in proc.stdout
    assert all(r.get("stream") for r in server.requests)
    second = server.requests[1]["messages"]
    assert [m["content"] for m in second if m["role"] == "user"] == ["hi", "and again"]  # the thread kept the first turn


def test_ask_prints_a_kpi_breakdown_once_with_the_path_of_its_chart(demo_home):
    out = run("--home", demo_home, "ask", "--as", "wangjianhua", "win rate by region this year", env={"COLUMNS": "500"}).stdout
    charts = [line.split("chart: ", 1)[1].strip() for line in out.splitlines() if line.startswith("chart: ")]
    assert len(charts) == 1 and Path(charts[0]).read_bytes()[:4] == b"\x89PNG"
    assert out.count(charts[0]) == 1  # not repeated inside the answer text


def test_snapshot_intent_stores_each_open_lead_once_per_date_however_often_it_runs(demo_home, tmp_path):
    import shutil
    import sqlite3

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(demo_home) / "repcopilot.db", home / "repcopilot.db")  # the shared demo stays as it was
    for _ in range(2):
        out = run("--home", str(home), "leads", "snapshot-intent", "--date", "2026-11-15").stdout
    with sqlite3.connect(home / "repcopilot.db") as db:
        rows, leads = db.execute("SELECT count(*), count(DISTINCT lead_id) FROM intent_scores WHERE as_of = '2026-11-15'").fetchone()
    assert rows == leads > 0 and f"stored {rows} intent scores" in out


def test_snapshot_intent_refuses_a_bad_date_and_writes_nothing(demo_home, tmp_path):
    import shutil
    import sqlite3

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(demo_home) / "repcopilot.db", home / "repcopilot.db")
    with sqlite3.connect(home / "repcopilot.db") as db:
        before = db.execute("SELECT count(*) FROM intent_scores").fetchone()[0]
    proc = run("--home", str(home), "leads", "snapshot-intent", "--date", "15/11/2026", check=False)
    assert proc.returncode != 0 and "YYYY-MM-DD" in proc.stderr + proc.stdout
    with sqlite3.connect(home / "repcopilot.db") as db:
        assert db.execute("SELECT count(*) FROM intent_scores").fetchone()[0] == before
