"""The ChannelAdapter seam: both platforms implement it, and alerts go out through the adapters
of the channels the recipient can be reached on."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

from api.channels import ChannelAdapter, TeamsChannel, WeComChannel, configured_channels
from api.notify import deliver_alert
from crm.models import Alert, User


class FakeSession:
    """session.get → the user; session.scalar → the Teams conversation reference (or None)."""

    def __init__(self, user: User, teams_reference: dict | None = None) -> None:
        self.user, self.teams_reference = user, teams_reference

    def get(self, model, ident):
        return self.user if ident == self.user.id else None

    def scalar(self, statement):
        return self.teams_reference


class FakeWeComClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send_markdown(self, to_user: str, content: str) -> dict:
        self.sent.append((to_user, content))
        return {"errcode": 0}


class FakeTeamsBot:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, reference, activity, *, reply_to=None):
        self.sent.append((reference, activity.text))
        return "activity-1"


def _teams_runtime(reference: dict | None):
    @contextmanager
    def session_factory():
        yield SimpleNamespace(scalar=lambda statement: reference)

    return SimpleNamespace(teams=FakeTeamsBot(), session_factory=session_factory)


def _alert(**kw) -> Alert:
    return Alert(id=7, owner_id=1, status="shown", title="Lead cooling", action="Call back today", evidence=[],
                 confidence=0.8, lead_id=3, rule="r", delivered=None, **kw)


def test_both_channels_satisfy_the_adapter_protocol():
    assert isinstance(WeComChannel(FakeWeComClient()), ChannelAdapter)
    assert isinstance(TeamsChannel(_teams_runtime(None)), ChannelAdapter)
    assert (WeComChannel.name, TeamsChannel.name) == ("wecom", "teams")


def test_only_the_configured_channels_get_an_adapter_wecom_first():
    assert configured_channels() == []
    assert [c.name for c in configured_channels(wecom_client=FakeWeComClient())] == ["wecom"]
    assert [c.name for c in configured_channels(teams_runtime=_teams_runtime(None))] == ["teams"]
    assert [c.name for c in configured_channels(wecom_client=FakeWeComClient(), teams_runtime=_teams_runtime(None))] == [
        "wecom", "teams"]


def test_a_wecom_user_without_a_teams_chat_gets_the_alert_on_wecom_only():
    user = User(id=1, language="en", wecom_userid="zhangsan")
    client, runtime = FakeWeComClient(), _teams_runtime(None)
    alert = _alert()
    delivered = deliver_alert(FakeSession(user, teams_reference=None), alert, wecom_client=client, teams_runtime=runtime)
    assert [to for to, _ in client.sent] == ["zhangsan"]
    assert client.sent[0][1].startswith("**Lead cooling**")
    assert runtime.teams.sent == []
    assert set(delivered) == {"wecom:1", "web"} and alert.delivered == delivered


def test_a_teams_user_without_a_wecom_id_gets_the_alert_on_teams_only():
    user = User(id=1, language="en", wecom_userid=None)
    reference = {"conversation": {"id": "a:1"}}
    client, runtime = FakeWeComClient(), _teams_runtime(reference)
    delivered = deliver_alert(FakeSession(user, teams_reference=11), _alert(), wecom_client=client, teams_runtime=runtime)
    assert client.sent == []
    assert len(runtime.teams.sent) == 1 and runtime.teams.sent[0][0] == reference
    assert runtime.teams.sent[0][1].startswith("**Lead cooling**")
    assert set(delivered) == {"teams:1", "web"}


def test_a_channel_already_delivered_is_not_sent_again_and_a_failure_is_recorded():
    user = User(id=1, language="en", wecom_userid="zhangsan")
    client = FakeWeComClient()
    alert = _alert()
    alert.delivered = {"wecom:1": "2026-01-01 00:00:00"}
    deliver_alert(FakeSession(user), alert, wecom_client=client)
    assert client.sent == []

    class Refusing:
        def send_markdown(self, to_user, content):
            raise RuntimeError("errcode 60020")

    delivered = deliver_alert(FakeSession(user), _alert(), wecom_client=Refusing())
    assert delivered["wecom:1:error"] == "errcode 60020" and "wecom:1" not in delivered


def test_adapters_accept_inbound_messages_through_the_inbox_under_their_channel():
    calls = []
    runtime = SimpleNamespace(inbox=SimpleNamespace(accept=lambda **kw: calls.append(kw) or "future"))
    from api.teams import TeamsMessage
    from api.wecom import Inbound

    assert WeComChannel(None).accept(runtime, Inbound("text", "zhangsan", "m1", text="hi")) == "future"
    teams_msg = TeamsMessage(activity_id="act1", conversation_id="c1", aad_object_id="aad1", text="", locale="en",
                             personal=True, reference={})
    assert TeamsChannel(runtime).accept(runtime, teams_msg) == "future"
    assert [(c["channel"], c["platform_msg_id"], c["conversation_id"], c["kind"]) for c in calls] == [
        ("wecom", "m1", "wecom:zhangsan", "text"), ("teams", "act1", "teams:c1", "other")]
