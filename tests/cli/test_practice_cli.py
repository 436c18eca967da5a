"""`repcopilot practice …` as a user runs it: real processes on a copy of the demo company —
scenarios in the user's language, validation that names the file and the field, trainer-only
authoring and assigning, scripted and interactive sessions with their report, and access: a rep
never reads or continues another rep's session."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from evals.practice_eval import SCRIPTS_DIR
from tests.cli.test_cli import _one_line_error, run
from tools.practice.scenario import BUILTIN_DIR, load_file

GOOD = BUILTIN_DIR / "hospital-price-objection.yaml"


@pytest.fixture(scope="module")
def home(demo_home, tmp_path_factory) -> str:
    """A copy of the shared demo home: practice sessions and trainer scenarios are written to it."""
    path = tmp_path_factory.mktemp("practice-cli")
    shutil.copy(Path(demo_home) / "repcopilot.db", path / "repcopilot.db")
    return str(path)


def practice(home: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("--home", home, "practice", *args, check=check, env={"COLUMNS": "250"})  # tables unwrapped


def _sessions(home: str) -> list[tuple]:
    with sqlite3.connect(Path(home) / "repcopilot.db") as db:
        return db.execute("SELECT p.id, u.login, p.scenario_code, p.ended_at FROM practice_sessions p "
                          "JOIN users u ON u.id = p.user_id ORDER BY p.id").fetchall()


def test_list_shows_the_scenarios_in_the_users_language(home):
    s = load_file(GOOD)
    zh = practice(home, "list", "--as", "zhangwei").stdout
    en = practice(home, "list", "--as", "davidchen").stdout
    assert s.title.zh in zh and "练习场景" in zh and s.title.en not in zh
    assert "Practice scenarios" in en and "Hospital procurement" in en and s.title.zh not in en
    rows = json.loads(practice(home, "list", "--as", "zhangwei", "--json").stdout)["scenarios"]
    assert len(rows) >= 8 and {r["source"] for r in rows} == {"builtin"}


def test_show_gives_a_rep_the_brief_and_a_trainer_also_the_hidden_pain_points(home):
    rep = json.loads(practice(home, "show", "医院采购价格异议", "--as", "zhangwei", "--json").stdout)
    trainer = json.loads(practice(home, "show", "hospital-price-objection", "--as", "linfang", "--json").stdout)
    assert rep["code"] == trainer["code"] == "hospital-price-objection" and rep["opening"] == trainer["opening"]
    assert isinstance(rep["pain_points"], int) and "rubric" not in rep
    assert {p["id"] for p in trainer["pain_points"]} >= {"downtime", "vendor_delay"} and trainer["rubric"]
    text = practice(home, "show", "hospital-price-objection", "--as", "linfang").stdout
    assert "[隐藏痛点] downtime" in text


def test_validate_accepts_a_good_file_and_a_bad_one_names_the_file_the_field_and_the_fix(home, tmp_path):
    ok = practice(home, "validate", str(GOOD))
    assert ok.returncode == 0 and "OK — hospital-price-objection" in ok.stdout
    bad = tmp_path / "mine.yaml"
    bad.write_text(GOOD.read_text(encoding="utf-8").replace("revealed_by: [discovery_question, why_question]",
                                                            "revealed_by: [open_question]", 1), encoding="utf-8")
    proc = practice(home, "validate", str(bad), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"{bad}: pain_points.0.revealed_by.0: unknown turn kind 'open_question'; write one of why_question" in proc.stderr
    missing = practice(home, "validate", str(tmp_path / "nope.yaml"), check=False)
    assert missing.returncode != 0 and "no such file" in _one_line_error(missing)


def test_a_trainer_creates_a_scenario_that_is_then_listed_and_a_rep_may_not(home, tmp_path):
    mine = tmp_path / "clinic-price.yaml"
    mine.write_text(GOOD.read_text(encoding="utf-8").replace("code: hospital-price-objection", "code: clinic-price"), encoding="utf-8")
    refused = practice(home, "create", str(mine), "--as", "zhangwei", check=False)
    assert refused.returncode == 4 and "培训师" in _one_line_error(refused)
    assert not (Path(home) / "scenarios" / "clinic-price.yaml").exists()
    out = json.loads(practice(home, "create", str(mine), "--as", "linfang", "--json").stdout)
    assert out["code"] == "clinic-price" and out["replaced"] is False
    assert (Path(home) / "scenarios" / "clinic-price.yaml").read_text(encoding="utf-8") == mine.read_text(encoding="utf-8")
    listed = {r["code"]: r["source"] for r in json.loads(practice(home, "list", "--as", "zhangwei", "--json").stdout)["scenarios"]}
    assert listed["clinic-price"] == "home" and listed["hospital-price-objection"] == "builtin"


def test_a_trainer_assigns_a_scenario_through_its_drill_and_a_rep_may_not(home):
    refused = practice(home, "assign", "gov-tender-policy", "--rep", "lina", "--as", "zhangwei", check=False)
    assert refused.returncode == 4 and _one_line_error(refused)
    out = json.loads(practice(home, "assign", "gov-tender-policy", "--rep", "lina", "--as", "linfang", "--due", "2099-01-31",
                              "--json").stdout)
    assert out["scenario"] == "gov-tender-policy" and out["assignment"]["due_date"] == "2099-01-31"
    bad_date = practice(home, "assign", "gov-tender-policy", "--rep", "lina", "--as", "linfang", "--due", "31/01/2099", check=False)
    assert "YYYY-MM-DD" in _one_line_error(bad_date)


def test_run_with_a_script_prints_the_session_json_with_cited_verdicts(home):
    out = json.loads(practice(home, "run", "mfg-cfo-no-budget", "--as", "davidchen", "--script",
                              str(SCRIPTS_DIR / "mfg-cfo-no-budget.strong.txt"), "--json").stdout)
    assert {"transcript", "scores", "rubric", "pain_points_found", "report"} <= set(out)
    assert out["transcript"][0]["speaker"] == "customer" and out["scores"]["pain_points_found"] == len(out["pain_points_found"])
    by_idx = {t["idx"]: t["text"] for t in out["transcript"]}
    assert all(by_idx[v["turn"]] == v["quote"] for v in out["rubric"] if v["passed"])
    assert (out["session_id"], "davidchen", "mfg-cfo-no-budget") == _sessions(home)[-1][:3] and _sessions(home)[-1][3]
    neither = practice(home, "run", "mfg-cfo-no-budget", "--as", "davidchen", check=False)
    assert "--script" in _one_line_error(neither)


def test_start_is_interactive_the_customer_answers_each_line_and_end_prints_the_report(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPCOPILOT_")} | {"COLUMNS": "250"}
    lines = "您好 周主任\n现在临床那边设备维修是怎么处理的?\n\n为什么维修响应会这么慢?\n/end\n这一行在 /end 之后,不算\n"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--home", home, "practice", "start", "医院采购价格异议", "--as", "zhangwei"],
                          input=lines, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    s = load_file(GOOD)
    assert s.opening in proc.stdout and "得分" in proc.stdout and "(why_question)" in proc.stdout
    sid, login, code, ended = _sessions(home)[-1]
    assert (login, code) == ("zhangwei", "hospital-price-objection") and ended
    with sqlite3.connect(Path(home) / "repcopilot.db") as db:
        transcript = json.loads(db.execute("SELECT transcript FROM practice_sessions WHERE id = ?", (sid,)).fetchone()[0])
    assert [t["text"] for t in transcript if t["speaker"] == "rep"] == ["您好 周主任", "现在临床那边设备维修是怎么处理的?", "为什么维修响应会这么慢?"]


def test_a_rep_is_refused_another_reps_session_and_the_trainer_reports_on_everyone(home):
    out = json.loads(practice(home, "run", "hospital-price-objection", "--as", "zhangwei", "--script",
                              str(SCRIPTS_DIR / "hospital-price-objection.weak.txt"), "--json").stdout)
    sid = str(out["session_id"])
    for args in (("end", sid), ("say", sid, "--text", "为什么?")):
        proc = practice(home, *args, "--as", "lina", check=False)
        assert proc.returncode == 4 and "不是你的" in _one_line_error(proc)
    assert int(sid) not in {r["id"] for r in json.loads(practice(home, "sessions", "--as", "lina", "--json").stdout)}
    assert json.loads(practice(home, "sessions", "--as", "lina", "--rep", "zhangwei", "--json").stdout) == []
    assert {r["rep"] for r in json.loads(practice(home, "report", "--as", "lina", "--json").stdout)["rows"]} <= {"lina"}
    report = json.loads(practice(home, "report", "--as", "linfang", "--json").stdout)
    row = next(r for r in report["rows"] if (r["rep"], r["scenario"]) == ("zhangwei", "hospital-price-objection"))
    assert row["last"] == out["scores"]["overall"] and report["sessions"] >= 1
    text = practice(home, "report", "--as", "linfang").stdout
    assert "练习报告" in text and "zhangwei" in text
    own = practice(home, "end", sid, "--as", "zhangwei", "--json")  # the rep reads their own ended session
    assert json.loads(own.stdout)["session_id"] == int(sid)
