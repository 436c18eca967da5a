"""The outside edge of Teams, on 127.0.0.1: the token signing key set (JWKS) and the Bot
Connector a conversation's ``serviceUrl`` points at. Tokens are signed by an RSA key made here."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from azure.core.credentials import AccessToken
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from microsoft_agents.hosting.core import AccessTokenProviderBase, AgentAuthConfiguration

APP_ID = "5b3f3a4e-8c8d-4a43-9d1e-2f6a7c9e0b11"
TENANT_ID = "0c6f1f2a-3b4c-4d5e-8f90-a1b2c3d4e5f6"
BF_ISSUER = "https://api.botframework.com"
KID = "repcopilot-test-key"
OUTBOUND_TOKEN = "outbound-token-for-the-local-connector"


class FixedTokenProvider(AccessTokenProviderBase):
    """Outbound credentials without Entra: every call gets the same token (nothing leaves 127.0.0.1)."""

    def __init__(self, configuration: AgentAuthConfiguration) -> None:
        self._configuration = configuration
        self.requests: list[tuple[str, list[str]]] = []

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        self.requests.append((resource_url, scopes))
        return OUTBOUND_TOKEN

    def get_token_credential(self):
        async def get_token(*scopes, **kwargs):
            return AccessToken(OUTBOUND_TOKEN, int(time.time()) + 3600)

        return get_token


class SigningKey:
    def __init__(self, kid: str = KID) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        return {**RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig",
                "alg": "RS256"}

    def token(self, *, aud: str = APP_ID, iss: str = BF_ISSUER, expires_in_s: int = 3600,
              service_url: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"aud": aud, "iss": iss, "iat": now - 10, "nbf": now - 10, "exp": now + expires_in_s, **claims}
        if service_url:
            body["serviceurl"] = service_url
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": self.kid})


class FakeBotServices:
    """``GET /keys``: the JWKS; ``POST /v3/conversations/{id}/activities[/{replyToId}]``: the
    connector, recording each activity with its path and Authorization header."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.sent: list[dict[str, Any]] = []
        self.key_fetches = 0
        self.fail_next = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, status: int, data: dict) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):  # noqa: N802
                if self.path != "/keys":
                    self._json(404, {})
                    return
                outer.key_fetches += 1
                self._json(200, {"keys": [outer.key.jwk()]})

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = re.fullmatch(r"/v3/conversations/([^/]+)/activities(?:/([^/]+))?", self.path)
                if match is None:
                    self._json(404, {})
                    return
                if outer.fail_next:
                    outer.fail_next -= 1
                    self._json(500, {"error": {"code": "ServiceError", "message": "connector down"}})
                    return
                outer.sent.append({"conversation": match.group(1), "reply_to": match.group(2),
                                   "authorization": self.headers.get("Authorization"), "activity": json.loads(raw)})
                self._json(201, {"id": f"sent-{len(outer.sent)}"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def wait_sent(self, n: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if len(self.sent) >= n:
                return self.sent
            time.sleep(0.05)
        raise AssertionError(f"the connector received {len(self.sent)} activities, expected {n}")


def message_activity(text: str, *, activity_id: str, service_url: str, aad_object_id: str,
                     conversation_id: str = "a:1personal-chat", locale: str = "zh-CN",
                     expect_replies: bool = False, conversation_type: str = "personal") -> dict[str, Any]:
    """A Teams personal-chat message as the Bot Connector posts it."""
    activity = {
        "type": "message", "id": activity_id, "timestamp": "2026-11-20T08:30:00.000Z", "channelId": "msteams",
        "serviceUrl": service_url, "locale": locale, "text": text, "textFormat": "plain",
        "from": {"id": f"29:1{aad_object_id[:8]}", "name": "Teams user", "aadObjectId": aad_object_id},
        "conversation": {"id": conversation_id, "conversationType": conversation_type, "tenantId": TENANT_ID},
        "recipient": {"id": f"28:{APP_ID}", "name": "repcopilot"},
        "channelData": {"tenant": {"id": TENANT_ID}},
    }
    if expect_replies:
        activity["deliveryMode"] = "expectReplies"
    return activity


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card attached to a reply activity."""
    attachments = activity.get("attachments") or []
    assert len(attachments) == 1, activity
    assert attachments[0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachments[0]["content"]


def card_text(card: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in card["body"] if block["type"] == "TextBlock")
