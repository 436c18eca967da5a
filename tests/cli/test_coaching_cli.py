"""`repcopilot profile show`, `drills list|assign|complete` and `team overview` as a user runs
them: real processes on a copy of the demo company (with its calls' metrics computed)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from crm.db import make_engine, session_scope
from tests.cli.test_cli import _one_line_error, run
from tools.calls import recompute_call_metrics


@pytest.fixture(scope="module")
def coaching_home(demo_home, tmp_path_factory) -> str:
    """A copy of the shared demo home (profiles are written on first read) with call metrics."""
    home = tmp_path_factory.mktemp("coaching")
    shutil.copy(Path(demo_home) / "repcopilot.db", home / "repcopilot.db")
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    with session_scope(engine) as session:
        recompute_call_metrics(session)
    engine.dispose()
    return str(home)


@pytest.fixture
def writable_home(coaching_home, tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(coaching_home) / "repcopilot.db", home / "repcopilot.db")
    return home


def _users(home: str) -> dict[str, dict]:
    return {u["login"]: u for u in json.loads(run("--home", home, "demo", "users", "--json").stdout)}


def test_profile_show_gives_a_rep_their_own_scores_with_inputs_outcomes_gaps_and_scenario_fit(coaching_home):
    view = json.loads(run("--home", coaching_home, "profile", "show", "--as", "zhangwei", "--json").stdout)
    assert view["login"] == "zhangwei"
    assert set(view["dimensions"]) == {"needs_discovery", "solution_matching", "objection_handling"}
    for d in view["dimensions"].values():
        assert d["calls_used"] >= 3 and 0 <= d["score"] <= 100 and d["top_quartile"] is not None
        assert all({"value", "n", "rank", "team_avg", "top_quartile", "label"} <= set(i) for i in d["inputs"].values())
    assert {"win_rate", "avg_deal_size_cny", "cycle_length_days", "payment_cycle_days", "first_deal_days"} <= set(view["outcomes"])
    assert {f["scenario"] for f in view["scenario_fit"]} >= {"government_tender", "saas_renewal"}
    for g in view["gaps"]:
        assert g["score"] < g["top_quartile"] and all({"call_id", "date", "value"} <= set(c) for c in g["calls"])


def test_profile_text_is_in_the_users_language(coaching_home):
    users = _users(coaching_home)
    assert users["zhangwei"]["language"] == "zh" and users["davidchen"]["language"] == "en"
    zh = run("--home", coaching_home, "profile", "show", "--as", "zhangwei").stdout
    en = run("--home", coaching_home, "profile", "show", "--as", "davidchen").stdout
    assert "需求挖掘" in zh and "场景匹配" in zh and "needs discovery" not in zh
    assert "needs discovery" in en and "Scenario fit" in en and "需求挖掘" not in en


def test_profile_access_is_refused_in_one_line_outside_the_rule(coaching_home):
    users = _users(coaching_home)
    east = {u["login"] for u in users.values() if u["team"] == users["chenjing"]["team"] and u["role"] == "rep"}
    other = next(u["login"] for u in users.values() if u["role"] == "rep" and u["login"] not in east)
    rep_line = _one_line_error(run("--home", coaching_home, "profile", "show", "--as", "davidchen", "--rep", "zhangwei", check=False))
    assert "own" in rep_line
    mgr = run("--home", coaching_home, "profile", "show", "--as", "chenjing", "--rep", other, check=False)
    assert mgr.returncode == 4 and "团队" in _one_line_error(mgr)
    assert json.loads(run("--home", coaching_home, "profile", "show", "--as", "chenjing", "--rep", sorted(east)[0], "--json").stdout)["login"] in east
    assert json.loads(run("--home", coaching_home, "profile", "show", "--as", "linfang", "--rep", other, "--json").stdout)["login"] == other


def test_team_overview_lists_exactly_the_managers_reps_with_scores_and_biggest_gap(coaching_home):
    users = _users(coaching_home)
    rows = json.loads(run("--home", coaching_home, "team", "overview", "--as", "chenjing", "--json").stdout)
    east = {u["login"] for u in users.values() if u["team"] == users["chenjing"]["team"] and u["role"] == "rep"}
    assert {r["login"] for r in rows} == east
    for r in rows:
        assert set(r["scores"]) == {"needs_discovery", "solution_matching", "objection_handling"}
        assert r["biggest_gap"] is None or r["biggest_gap"]["gap"] > 0
    assert any(r["biggest_gap"] for r in rows)
    refused = run("--home", coaching_home, "team", "overview", "--as", "zhangwei", check=False)
    assert refused.returncode == 4 and _one_line_error(refused)


def test_drills_assign_list_complete_round_trip_stores_due_date_and_baseline(writable_home):
    home = str(writable_home)
    refused = run("--home", home, "drills", "assign", "pain-pause", "--rep", "zhangwei", "--as", "lina", check=False)
    assert refused.returncode == 4 and _one_line_error(refused)
    out = json.loads(run("--home", home, "drills", "assign", "pain-pause", "--rep", "zhangwei", "--as", "linfang",
                         "--due", "2099-01-31", "--times", "3", "--json").stdout)
    aid = out["assignment"]["id"]
    assert out["created"] and out["assignment"]["due_date"] == "2099-01-31" and out["assignment"]["times"] == 3
    plan = json.loads(run("--home", home, "drills", "list", "--as", "zhangwei", "--json").stdout)
    assert [(a["id"], a["status"]) for a in plan["assignments"]] == [(aid, "open")]
    assert all(t["times"] >= 1 and t["dimension"] for t in plan["tasks"])
    done = run("--home", home, "drills", "complete", str(aid), "--as", "zhangwei").stdout
    assert str(aid) in done and "基线" in done
    with sqlite3.connect(writable_home / "repcopilot.db") as db:
        completed_at, baseline = db.execute("SELECT completed_at, baseline FROM drill_assignments WHERE id = ?", (aid,)).fetchone()
    assert completed_at is not None and json.loads(baseline)["inputs"]["pain_point_pause_s"]["calls"] >= 3
    text = run("--home", home, "drills", "list", "--as", "chenjing", "--rep", "zhangwei").stdout
    assert "已完成" in text


def test_a_bad_due_date_is_refused_and_nothing_is_written(writable_home):
    home = str(writable_home)
    proc = run("--home", home, "drills", "assign", "pain-pause", "--rep", "zhangwei", "--as", "linfang", "--due", "31/01/2099", check=False)
    assert "YYYY-MM-DD" in _one_line_error(proc)
    with sqlite3.connect(writable_home / "repcopilot.db") as db:
        assert db.execute("SELECT count(*) FROM drill_assignments").fetchone()[0] == 0


def test_a_trainer_reads_a_reps_profile_as_text_without_deal_outcomes(coaching_home):
    out = run("--home", coaching_home, "profile", "show", "--as", "linfang", "--rep", "zhangwei").stdout
    assert "需求挖掘" in out or "needs discovery" in out
    assert "平均成交额" not in out and "avg deal" not in out  # the outcomes line
    assert "培训师视图" in out or "Trainer view" in out


def test_successor_ranks_team_candidates_per_account_with_a_handover_guide_as_json(coaching_home):
    users = _users(coaching_home)
    team = {u["login"] for u in users.values() if u["team"] == users["huanglei"]["team"] and u["role"] == "rep"}
    plan = json.loads(run("--home", coaching_home, "successor", "--rep", "magang", "--as", "huanglei", "--json").stdout)
    assert plan["rep"] == "magang" and plan["accounts"]
    values = [a["open_value_cny"] for a in plan["accounts"]]
    assert values == sorted(values, reverse=True)
    for a in plan["accounts"]:
        assert a["candidates"] and {c["login"] for c in a["candidates"]} <= team - {"magang"}
        scores = [c["score"] for c in a["candidates"]]
        assert scores == sorted(scores, reverse=True) and all(c["reasons"] for c in a["candidates"])
        assert set(a["guide"]) >= {"history", "open_opportunities", "pending_next_steps", "renewals_due", "contacts", "sensitive_points"}
        for p in a["guide"]["sensitive_points"]:
            assert p["call_id"] and "–" in p["time"]
    one = json.loads(run("--home", coaching_home, "successor", "--rep", "magang", "--as", "huanglei", "--json",
                         "--account", str(plan["accounts"][0]["account_id"])).stdout)
    assert [a["account_id"] for a in one["accounts"]] == [plan["accounts"][0]["account_id"]]


def test_successor_is_refused_in_one_line_to_reps_and_other_managers_and_prints_in_the_users_language(coaching_home):
    rep = run("--home", coaching_home, "successor", "--rep", "magang", "--as", "zhangwei", check=False)
    assert rep.returncode == 4 and "经理" in _one_line_error(rep)
    other = run("--home", coaching_home, "successor", "--rep", "magang", "--as", "chenjing", check=False)
    assert other.returncode == 4 and "团队" in _one_line_error(other)
    missing = run("--home", coaching_home, "successor", "--rep", "nobody", "--as", "wangjianhua", check=False)
    assert missing.returncode == 3 and "nobody" in _one_line_error(missing)
    zh = run("--home", coaching_home, "successor", "--rep", "magang", "--as", "huanglei").stdout
    assert "接任人排序" in zh and "关键联系人" in zh and "Successors" not in zh
