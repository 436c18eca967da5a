"""`repcopilot route / review-queue / feedback / routing weights / signals run / alerts` as a user runs
them: real processes on a copy of the demo company."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import _one_line_error, run

AT = "2026-11-20 12:00"


@pytest.fixture
def home(demo_home, tmp_path) -> str:
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(Path(demo_home) / "repcopilot.db", h / "repcopilot.db")
    return str(h)


def cli(home: str, *args: str) -> dict | list:
    return json.loads(run("--home", home, *args, "--json").stdout)


def test_route_dry_run_then_route_then_nothing_twice_and_the_review_queue_is_decided_by_the_regions_manager(home):
    dry = cli(home, "route", "--as", "wangjianhua", "--dry-run", "--at", AT)
    assert dry["dry_run"] and dry["routed"] > 0 and all(r["decision_id"] is None for r in dry["leads"])
    done = cli(home, "route", "--as", "wangjianhua", "--at", AT)
    assert done["routed"] == dry["routed"] and [r["kind"] for r in done["leads"]] == [r["kind"] for r in dry["leads"]]
    assert cli(home, "route", "--as", "wangjianhua", "--at", AT)["routed"] == 0
    queue = cli(home, "review-queue", "list", "--as", "wangjianhua")
    assert queue and all(q["status"] == "pending_review" for q in queue)
    item = queue[0]
    region_manager = {"east": "chenjing", "south": "huanglei", "north": "zhaomin", "west": "zhouqiang"}
    users = {u["login"]: u for u in json.loads(run("--home", home, "demo", "users", "--json").stdout)}
    proposed = users[item["rep"]]
    manager = next(login for login, u in users.items() if u["role"] == "manager" and u["team"] == proposed["team"])
    assert manager in region_manager.values()
    approved = cli(home, "review-queue", "approve", str(item["id"]), "--as", manager)
    assert approved["status"] == "approved" and approved["decided_by"] == manager
    exp = cli(home, "route", "explain", str(item["id"]), "--as", item["rep"])
    assert len(exp["factors"]) == 5 and len(exp["events"]) <= 5 and 0 < exp["confidence"] <= 0.95
    text = run("--home", home, "route", "explain", str(item["id"]), "--as", item["rep"]).stdout
    assert "置信度" in text or "Confidence" in text
    assert len(queue) > 1  # another waiting proposal rejected: unassigned, back to nurture; rejecting it again changes nothing
    other = queue[1]
    rejected = cli(home, "review-queue", "reject", str(other["id"]), "--as", "wangjianhua", "--note", "先培育")
    assert rejected["status"] == "nurture" and rejected["rep"] is None and rejected["note"] == "先培育"
    assert cli(home, "review-queue", "reject", str(other["id"]), "--as", "wangjianhua") == rejected
    assert all(q["id"] != other["id"] for q in cli(home, "review-queue", "list", "--as", "wangjianhua"))


def test_feedback_proposes_a_version_a_manager_approves_and_reverts(home):
    done = cli(home, "route", "--as", "wangjianhua", "--at", AT)
    lead = next(r for r in done["leads"] if r["kind"] in ("auto", "dual"))
    fb = cli(home, "feedback", str(lead["lead_id"]), "--as", lead["rep"], "--reason", "wrong_fit", "--note", "不懂这个行业")
    assert fb["proposed_version"] == 2 and fb["blamed"] != "fit"
    versions = cli(home, "routing", "weights", "list", "--as", "wangjianhua")
    assert [(v["version"], v["status"]) for v in versions] == [(1, "active"), (2, "pending")]
    assert cli(home, "routing", "weights", "approve", "2", "--as", "wangjianhua")["status"] == "active"
    assert cli(home, "routing", "weights", "revert", "1", "--as", "wangjianhua")["status"] == "active"


def test_signals_run_logs_alerts_once_and_the_owner_lists_adopts_and_explains_them(home):
    first = cli(home, "signals", "run", "--as", "wangjianhua", "--at", AT, "--since", "2026-11-06")
    again = cli(home, "signals", "run", "--as", "wangjianhua", "--at", AT, "--since", "2026-11-06")
    assert first["new_alerts"] > 0 and again["new_alerts"] == 0 and again["fired"] == first["fired"]
    every = cli(home, "alerts", "list", "--as", "wangjianhua")
    assert len(every) == first["new_alerts"]
    who = next(a["owner"] for a in every if a["owner"] not in ("chenjing", "huanglei", "zhaomin", "zhouqiang"))
    mine = cli(home, "alerts", "list", "--as", who)
    assert mine and {a["owner"] for a in mine} == {who}
    aid = str(mine[0]["id"])
    assert cli(home, "alerts", "adopt", aid, "--as", who)["status"] == "adopted"
    exp = cli(home, "alerts", "explain", aid, "--as", who)
    assert exp["subject"] == f"alert:{aid}" and exp["events"]


def test_bad_input_gives_one_line_saying_what_to_do(home):
    line = _one_line_error(run("--home", home, "route", "--dry-run", check=False))
    assert "--as" in line
    line = _one_line_error(run("--home", home, "route", "--as", "zhangwei", check=False))
    assert "route explain" in line or "分配" in line
    line = _one_line_error(run("--home", home, "signals", "run", "--as", "wangjianhua", "--since", "yesterday", check=False))
    assert "YYYY-MM-DD" in line
    line = _one_line_error(run("--home", home, "feedback", "1", "--as", "zhangwei", "--reason", "meh", check=False))
    assert "wrong_fit" in line
