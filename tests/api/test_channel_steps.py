"""The named steps the WeCom answer, the Teams answer card and alert delivery were split into."""

from __future__ import annotations

import base64
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from agent.service import Answer
from api import notify, teams, wecom
from api.wecom import Inbound
from crm.models import Alert, User

EN = teams.LABELS["en"]


def _runtime(user: User | None = None, answer: Answer | None = None, asked: list | None = None):
    @contextmanager
    def session_factory():
        yield SimpleNamespace(scalar=lambda statement: user)

    def ask(user_id, text, thread_id):
        if asked is not None:
            asked.append((user_id, text, thread_id))
        if answer is None:
            raise ValueError("planner down")
        return answer

    return SimpleNamespace(session_factory=session_factory, ask=ask)


# -- WeCom ------------------------------------------------------------------------------------

def test_sender_of_gives_the_enrolled_user_and_their_language_defaulting_to_zh():
    assert wecom.sender_of(_runtime(User(id=4, language="en")), "u") == (4, "en")
    assert wecom.sender_of(_runtime(User(id=5, language="fr")), "u") == (5, "zh")
    assert wecom.sender_of(_runtime(None), "u") == (None, "zh")


def test_compose_reply_answers_only_enrolled_senders_of_text_or_voice():
    text = Inbound("text", "u", "m1", text="hi")
    assert wecom.compose_reply(_runtime(), None, 1, text, None, "zh") == (wecom.NOT_ENROLLED, [], [])
    assert wecom.compose_reply(_runtime(), None, 1, Inbound("other", "u", "m2"), 4, "zh") == (wecom.UNSUPPORTED, [], [])
    reply, images, suggestions = wecom.compose_reply(_runtime(answer=None), None, 1, text, 4, "en")
    assert reply == "抱歉,处理出错:ValueError。/ Sorry, something went wrong." and images == [] and suggestions == []


def test_compose_reply_turns_a_voice_error_into_the_reply():
    voice = Inbound("voice", "u", "m3", media_id="media")
    reply, _, _ = wecom.compose_reply(_runtime(answer=Answer("x", "en")), None, 1, voice, 4, "en")
    assert reply.startswith("语音消息需要配置企业微信接口")  # no client: the voice cannot be fetched


def test_ask_copilot_returns_answer_charts_and_only_identified_suggestions():
    asked: list = []
    answer = Answer("Call Li today.", "en", images=["/tmp/chart.png"],
                    evidence=[{"kind": "suggestion", "id": 9}, {"kind": "suggestion"}, {"kind": "call", "id": 2}])
    result = wecom.ask_copilot(_runtime(answer=answer, asked=asked), None, Inbound("text", "u", "m1", text="who?"), 4, "en")
    assert result == ("Call Li today.", ["/tmp/chart.png"], [{"kind": "suggestion", "id": 9}])
    assert asked == [(4, "who?", "wecom:u")]


def test_send_suggestion_cards_sends_at_most_max_cards_and_survives_a_failure():
    sent = []

    class Client:
        def send_card(self, to_user, card):
            sent.append((to_user, card["task_id"]))
            if len(sent) == 1:
                raise RuntimeError("refused")

    suggestions = [{"id": i, "text": f"s{i}"} for i in range(1, 6)]
    wecom.send_suggestion_cards(Client(), "u", suggestions, "zh", 42)
    assert sent == [("u", "sg1-m42"), ("u", "sg2-m42"), ("u", "sg3-m42")]


# -- Teams card -------------------------------------------------------------------------------

def test_evidence_blocks_caps_the_lines_and_counts_the_rest():
    assert teams.evidence_blocks([], EN) == []
    items = [{"kind": "call", "id": i, "text": "t"} for i in range(teams.MAX_EVIDENCE + 2)]
    heading, lines = teams.evidence_blocks(items, EN)
    assert heading["text"] == EN["evidence"]
    assert lines["text"].splitlines()[-1] == EN["more"].format(n=2)
    assert len(lines["text"].splitlines()) == teams.MAX_EVIDENCE + 1


def test_confidence_blocks_show_a_percentage_or_nothing():
    assert teams.confidence_blocks(None, EN) == []
    assert teams.confidence_blocks(0.825, EN)[0]["text"] == f"{EN['confidence']}: 82%"


def test_suggestion_actions_pair_adopt_and_dismiss_for_the_first_three_suggestions():
    evidence = [{"kind": "suggestion", "id": i} for i in range(1, 6)] + [{"kind": "call", "id": 9}]
    actions = teams.suggestion_actions(evidence, EN)
    assert [(a["verb"], a["data"]["suggestion_id"]) for a in actions] == [
        ("suggestion.adopt", "1"), ("suggestion.dismiss", "1"), ("suggestion.adopt", "2"), ("suggestion.dismiss", "2"),
        ("suggestion.adopt", "3"), ("suggestion.dismiss", "3")]


def test_choice_actions_post_the_reading_back_as_the_users_message():
    actions = teams.choice_actions([{"label": "1. Revenue", "reply": "1"}])
    assert actions == [{"type": "Action.Submit", "title": "1. Revenue", "data": {"msteams": {"type": "imBack", "value": "1"}}}]


def test_with_chart_inlines_a_small_chart_and_replaces_a_big_one_with_a_note(tmp_path):
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    small.write_bytes(b"\x89PNG small")
    big.write_bytes(b"\x89PNG" + bytes(range(256)) * 100)
    answer_blocks, body = [{"type": "TextBlock", "text": "a"}], [{"type": "TextBlock", "text": "b"}]
    card = {"type": "AdaptiveCard", "body": [*answer_blocks, *body]}
    charted = teams.with_chart(dict(card), str(small), answer_blocks, body, EN)
    assert charted["body"][1]["url"] == "data:image/png;base64," + base64.b64encode(small.read_bytes()).decode()
    noted = teams.with_chart(dict(card), str(big), answer_blocks, body, EN)
    assert [b.get("text") for b in noted["body"]] == ["a", EN["chart_too_big"], "b"]


# -- alert delivery ---------------------------------------------------------------------------

def _alert() -> Alert:
    return Alert(id=7, owner_id=1, status="shown", title="Lead cooling", action="Call back today",
                 evidence=[{"time": "09:00", "text": "no reply"}], confidence=0.8, lead_id=3, rule="r")


def test_alert_text_is_the_full_markdown_unless_anonymized(monkeypatch):
    assert notify.alert_text(_alert(), "en") == notify.alert_markdown(_alert(), "en")
    import tools.signals

    monkeypatch.setattr(tools.signals, "rule_by_id", lambda rule: {"name_zh": "线索降温", "name_en": "Lead cooling"})
    assert notify.alert_text(_alert(), "zh", anonymized=True) == "**线索降温**\n建议:Call back today (#7)"
    assert "no reply" not in notify.alert_text(_alert(), "en", anonymized=True)


@pytest.mark.parametrize("fails", [False, True])
def test_send_once_records_the_time_or_the_error_and_skips_what_went_out(fails):
    delivered: dict = {}

    def send():
        if fails:
            raise RuntimeError("x" * 300)

    notify._send_once(delivered, "wecom:1", _alert(), "WeCom", send)
    if fails:
        assert list(delivered) == ["wecom:1:error"] and len(delivered["wecom:1:error"]) == 200
    else:
        assert list(delivered) == ["wecom:1"]
        notify._send_once(delivered, "wecom:1", _alert(), "WeCom", lambda: pytest.fail("sent twice"))
