"""The one seam both chat platforms sit behind (the design map's ``ChannelAdapter``).

A channel adapter records an inbound platform message once (a retry of the same platform
message id is recognised), runs the chat turn for it and delivers the answer, and sends text
to a user on its own (alerts). WeCom and Teams implement it by delegating to their modules
(:mod:`api.wecom`, :mod:`api.teams`); :mod:`api.notify` delivers alerts through the adapters
for the channels configured, without knowing either platform."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import ConversationRef, User


@runtime_checkable
class ChannelAdapter(Protocol):
    """What every chat channel offers the rest of the app."""

    name: str  # the channel's id: inbound_messages.channel and the prefix of an alert's delivered keys
    label: str  # the platform's name, for logs

    def accept(self, runtime, message: Any) -> Future:
        """Record an inbound message once; the future gives its row id, or None for a retry already stored."""
        ...

    def answer(self, runtime, inbound_id: int, message: Any) -> None:
        """Run the chat turn for an accepted message and deliver the answer on the channel."""
        ...

    def reaches(self, session: Session, user: User) -> bool:
        """Whether a message can be sent to this user on the channel without them writing first."""
        ...

    def send_text(self, user: User, text: str) -> object:
        """Send markdown text to the user; raises when the platform refuses it."""
        ...


class WeComChannel:
    """WeCom (企业微信): inbound messages through ``api.wecom``, outbound through a ``WeComClient``."""

    name = "wecom"
    label = "WeCom"

    def __init__(self, client) -> None:
        self.client = client

    def accept(self, runtime, message) -> Future:
        from api.wecom import accept

        return accept(runtime, message)

    def answer(self, runtime, inbound_id: int, message) -> None:
        from api.wecom import process

        process(runtime, inbound_id, message)

    def reaches(self, session: Session, user: User) -> bool:
        return self.client is not None and bool(user.wecom_userid)

    def send_text(self, user: User, text: str) -> object:
        return self.client.send_markdown(user.wecom_userid, text)


class TeamsChannel:
    """Microsoft Teams: inbound activities through ``api.teams``, outbound through the stored
    personal-chat conversation reference (``send_proactive``)."""

    name = "teams"
    label = "Teams"

    def __init__(self, runtime) -> None:
        self.runtime = runtime

    def accept(self, runtime, message) -> Future:
        from api.teams import accept

        return accept(runtime, message)

    def answer(self, runtime, inbound_id: int, message) -> None:
        runtime.teams.answer(inbound_id, message, True)

    def reaches(self, session: Session, user: User) -> bool:
        return session.scalar(select(ConversationRef.id).where(ConversationRef.channel == self.name,
                                                               ConversationRef.user_id == user.id)) is not None

    def send_text(self, user: User, text: str) -> object:
        from api.teams import send_proactive

        return send_proactive(self.runtime, user.id, text)


def configured_channels(*, wecom_client=None, teams_runtime=None) -> list[ChannelAdapter]:
    """The adapters that can send: WeCom when a client is given, Teams when a runtime is given (in that order)."""
    adapters: list[ChannelAdapter] = []
    if wecom_client is not None:
        adapters.append(WeComChannel(wecom_client))
    if teams_runtime is not None:
        adapters.append(TeamsChannel(teams_runtime))
    return adapters


__all__ = ["ChannelAdapter", "TeamsChannel", "WeComChannel", "configured_channels"]
