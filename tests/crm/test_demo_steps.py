"""The demo generator's named steps: the call timeline, a rep's pauses and lines, the customer's
replies, who owns and follows up leads, how deals move — each with controlled randomness."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from core.errors import UserInputError
from crm import demo_vocab as V
from crm.db import make_engine, session_scope, upgrade_schema
from crm.demo import (
    BASE_VOLUMES,
    STAGES,
    RepTraits,
    _by_owner,
    _CallTimeline,
    _customer_reply,
    _Generator,
    _pain_chance,
    _rep_line,
    _rep_pause_s,
    _rep_question,
    demo_info,
    existing_demo,
    record_demo,
    write_demo_company,
)
from crm.models import Lead, Opportunity, StageChange, User

AS_OF = date(2026, 11, 20)


class Scripted(random.Random):
    """A Random whose draws are chosen by the test: ``random()`` returns the next of ``rolls``,
    ``gauss`` its mean, ``uniform`` its lower bound, ``choice`` the first item."""

    def __init__(self, *rolls: float) -> None:
        super().__init__(0)
        self.rolls = list(rolls)

    def random(self) -> float:
        return self.rolls.pop(0)

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return mu

    def uniform(self, a: float, b: float) -> float:
        return a

    def choice(self, seq):
        return seq[0]

    def expovariate(self, lambd: float = 1.0) -> float:
        return 1 / lambd


def traits(**kw) -> RepTraits:
    base = {"patience_s": 2.0, "curiosity": 0.2, "question_share": 0.5, "talkativeness": 1.0, "follow_up_h": 24.0}
    return RepTraits(**(base | kw))


@pytest.fixture(scope="module")
def gen() -> _Generator:
    g = _Generator(seed=7, scale=1, as_of=AS_OF)
    g.generate(lambda _m: None)
    return g


# -- the call timeline ----------------------------------------------------------------------

def test_a_turn_starts_its_gap_after_the_previous_end_and_lasts_its_speaking_time():
    call = _CallTimeline(zh=False, start_s=1.0)
    call.say("rep", "one two three four five", 0)  # 5 words at 2.5 words/s
    call.say("customer", "fine", 0.5)  # 1 word → 0.4 s, at least 0.6 s
    assert call.turns == [
        {"speaker": "rep", "start_s": 1.0, "end_s": 3.0, "text": "one two three four five"},
        {"speaker": "customer", "start_s": 3.5, "end_s": 4.1, "text": "fine"},
    ]


def test_a_negative_gap_talks_over_the_previous_turn_and_chinese_counts_characters():
    call = _CallTimeline(zh=True, start_s=0.0)
    call.say("customer", "设备 老化", 0)  # 4 characters (the space does not count) at 4.2/s
    call.say("rep", "明白", -0.5)
    assert call.speaking_s("设备 老化") == round(4 / 4.2, 2)
    assert call.turns[1]["start_s"] == round(call.turns[0]["end_s"] - 0.5, 2)


# -- the rep ---------------------------------------------------------------------------------

def test_after_a_pain_point_the_rep_waits_their_patience_otherwise_a_short_pause():
    assert _rep_pause_s(Scripted(0.99), traits(patience_s=2.3), after_pain=True) == 2.3
    assert _rep_pause_s(Scripted(0.99), traits(patience_s=2.3), after_pain=False) == 0.7


def test_an_impatient_rep_sometimes_talks_over_the_customer():
    assert _rep_pause_s(Scripted(0.0), traits(patience_s=0.6), after_pain=True) == -0.2


def test_a_curious_rep_asks_why_and_acknowledges_a_pain_point_first():
    line = _rep_question(Scripted(0.0, 0.0), traits(curiosity=1.0), zh=False, after_pain=True)
    assert line == f"{V.ACK_EN[0]}. {V.WHY_QUESTIONS_EN[0]}"


def test_an_incurious_rep_asks_an_open_then_a_closed_question():
    assert _rep_question(Scripted(0.5, 0.1), traits(curiosity=0.0), zh=True, after_pain=False) == V.OPEN_QUESTIONS_ZH[0]
    assert _rep_question(Scripted(0.5, 0.9), traits(curiosity=0.0), zh=True, after_pain=False) == V.CLOSED_QUESTIONS_ZH[0]


def test_a_talkative_rep_pitches_two_lines():
    assert _rep_line(Scripted(0.9, 0.1), traits(question_share=0.5, talkativeness=1.5), zh=False, after_pain=False) == \
        f"{V.PITCH_EN[0]}. {V.PITCH_EN[0]}"
    assert _rep_line(Scripted(0.9, 0.9), traits(question_share=0.5, talkativeness=1.0), zh=False, after_pain=False) == V.PITCH_EN[0]


# -- the customer ----------------------------------------------------------------------------

def test_a_why_question_earns_the_most_pain_points_any_question_more_than_a_pitch():
    assert _pain_chance(V.WHY_QUESTIONS_EN[0], asked_why=True) == 0.55
    assert _pain_chance("What does your team use today?", asked_why=False) == 0.35
    assert _pain_chance("您现在用的是哪家的设备吗", asked_why=False) == 0.35
    assert _pain_chance("Our platform connects every device.", asked_why=False) == 0.2


def test_after_a_why_the_customer_tells_two_pain_points():
    pains = ["downtime is expensive", "spare parts are slow"]
    assert _customer_reply(Scripted(0.0), V.WHY_QUESTIONS_EN[0], pains, zh=False) == \
        ("downtime is expensive, and downtime is expensive", True)


def test_otherwise_an_objection_or_small_talk_and_no_pain_point():
    assert _customer_reply(Scripted(0.25), "Our platform.", ["p"], zh=False) == (V.OBJECTIONS_EN[0], False)
    assert _customer_reply(Scripted(0.9), "Our platform.", ["p"], zh=False) == (V.CUSTOMER_NEUTRAL_EN[0], False)


# -- accounts, leads, opportunities, calls ---------------------------------------------------

def test_rows_group_by_owner_in_row_order():
    rows = [{"id": 1, "owner_id": 5}, {"id": 2, "owner_id": 6}, {"id": 3, "owner_id": 5}]
    assert _by_owner(rows) == {5: [rows[0], rows[2]], 6: [rows[1]]}


def test_an_international_account_name_taken_already_gets_its_city():
    base, segment = V.INTERNATIONAL[0]
    cities = [("杭州", "Hangzhou")]
    assert _Generator._international_account_name(5, cities, set()) == (base, segment)
    assert _Generator._international_account_name(5, cities, {base}) == (f"{base} (Hangzhou)", segment)


def test_an_english_speaking_rep_owns_the_international_accounts():
    reps = [{"id": 1, "language": "zh"}, {"id": 2, "language": "en"}]
    assert _Generator._account_owner(Scripted(), reps, international=True)["id"] == 2
    assert _Generator._account_owner(Scripted(), reps, international=False)["id"] == 1


def test_a_lead_not_followed_up_is_new_and_a_high_intent_month_old_lead_converts():
    assert _Generator._lead_status(Scripted(), None, 0.9, 40) == "new"
    assert _Generator._lead_status(Scripted(0.0), datetime(2026, 1, 1), 0.9, 40) == "converted"
    assert _Generator._lead_status(Scripted(0.0), datetime(2026, 1, 1), 0.05, 40) == "invalid"


def test_nobody_owns_a_lead_from_before_they_were_hired(gen):
    meta = next(m for m in gen.account_meta.values() if m["region"] == "west")
    created = datetime(2026, 11, 1)
    newest = max(gen.reps_by_region["west"], key=lambda u: u["hire_date"])
    meta = meta | {"owner": newest | {"hire_date": date(2026, 11, 10)}}
    owner = gen._lead_owner(Scripted(0.0), meta, created)
    assert owner["hire_date"] <= created.date()


def test_a_lead_whose_follow_up_is_still_ahead_has_none_yet(gen):
    rep = gen.reps_by_region["east"][0]
    first, owner_id = gen._first_follow_up(Scripted(0.0), random.Random(1), rep, gen.now - timedelta(minutes=1), 0.0)
    assert first is None and owner_id == rep["id"]


def test_every_rep_makes_four_calls_before_the_rest_spread_at_random(gen):
    reps = [u for u in gen.rows[User] if u["role"] == "rep"]
    order = gen._call_order(random.Random(1), reps)
    assert len(order) == BASE_VOLUMES["calls"]
    assert order[: len(reps) * 4] == [reps[i % len(reps)] for i in range(len(reps) * 4)]


def test_the_top_reps_are_the_most_skilled_quarter(gen):
    reps = [u for u in gen.rows[User] if u["role"] == "rep"]
    top = gen._top_reps(reps)
    assert len(top) == len(reps) // 4
    least_top = min(gen.traits[u["login"]].skill for u in reps if u["id"] in top)
    assert all(gen.traits[u["login"]].skill <= least_top for u in reps if u["id"] not in top)


def test_converted_leads_become_opportunities_first(gen):
    picked = gen._opportunity_leads(random.Random(1))
    statuses = [gen.rows[Lead][lid - 1]["status"] for lid in picked]
    n_converted = statuses.count("converted")
    assert len(picked) == BASE_VOLUMES["opportunities"]
    assert statuses[:n_converted] == ["converted"] * n_converted and "converted" not in statuses[n_converted:]


def test_a_deal_moves_through_the_stages_in_order_and_closes_at_the_end():
    g = _Generator(seed=7, scale=1, as_of=AS_OF)
    opp = g.add(Opportunity, stage="discovery", won=None, close_date=None)
    start = g.now - timedelta(days=300)
    g._move_through_stages(Scripted(0.99, 0.99, 0.99, 0.99, 0.0), opp, start, skill=1.0)
    changes = [c["to_stage"] for c in g.rows[StageChange]]
    assert changes == [*STAGES, "closed_won"] and opp["won"] is True


def test_a_deal_lost_early_stops_at_its_stage():
    g = _Generator(seed=7, scale=1, as_of=AS_OF)
    opp = g.add(Opportunity, stage="discovery", won=None, close_date=None)
    g._move_through_stages(Scripted(0.0), opp, g.now - timedelta(days=300), skill=0.0)
    assert [c["to_stage"] for c in g.rows[StageChange]] == ["discovery", "closed_lost"] and opp["won"] is False


# -- writing and recording -------------------------------------------------------------------

def test_an_empty_database_has_no_demo_and_one_with_other_users_is_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    upgrade_schema(engine)
    with session_scope(engine) as session:
        assert existing_demo(session, seed=7, scale=1) is None
        session.add(User(login="someone", name="某人", name_en="Someone", role="rep", language="zh", hire_date=date(2020, 1, 1)))
    with session_scope(engine) as session, pytest.raises(UserInputError, match="not the demo company"):
        existing_demo(session, seed=7, scale=1)


def test_written_and_recorded_demo_is_found_again_and_another_seed_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade_schema(engine)
    written = write_demo_company(engine, seed=7, scale=1, as_of=AS_OF, say=lambda _m: None)
    assert written.rows_inserted == sum(len(v) for v in _generated(7).values())
    with session_scope(engine) as session:
        record_demo(session, seed=7, scale=1, as_of=AS_OF, traits=written.traits)
    with session_scope(engine) as session:
        assert existing_demo(session, seed=7, scale=1) == demo_info(session) == {"seed": 7, "scale": 1, "as_of": "2026-11-20"}
        with pytest.raises(UserInputError, match="seed 7 and scale 1"):
            existing_demo(session, seed=8, scale=1)


def _generated(seed: int):
    g = _Generator(seed=seed, scale=1, as_of=AS_OF)
    g.generate(lambda _m: None)
    return g.rows
