"""A scripted OpenAI-compatible chat server on 127.0.0.1 — the true outside edge, faked.

Each POST to /v1/chat/completions takes the next scripted reply: a tool call, a final
answer, an HTTP error status, or a malformed tool call. Requests are recorded so tests
can check what the real openai/langchain-openai client sent.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_call_reply(name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"tool_calls": [{"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": args}}]}


def text_reply(text: str) -> dict[str, Any]:
    return {"content": text}


def held_text_reply(text: str, release: threading.Event) -> dict[str, Any]:
    """A streamed final answer whose last word is sent only once ``release`` is set: a test can
    see what reached the client while the model is still "writing"."""
    return {"content": text, "hold_last": release}


def status_reply(status: int) -> dict[str, Any]:
    return {"status": status}


class ScriptedServer:
    def __init__(self, script: list[dict[str, Any]], delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.delay_s = delay_s
        self.busy_s = 0.0  # time spent answering, from reading the request to the last byte written
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                t0 = time.perf_counter()
                try:
                    self._answer()
                finally:
                    server.busy_s += time.perf_counter() - t0

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.delay_s:
                    time.sleep(server.delay_s)
                step = server.script.pop(0) if server.script else text_reply("(script exhausted)")
                if "status" in step:
                    payload = json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}).encode()
                    self.send_response(step["status"])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                message = {"role": "assistant", "content": step.get("content")}
                if "tool_calls" in step:
                    message["tool_calls"] = step["tool_calls"]
                finish = "tool_calls" if "tool_calls" in step else "stop"
                if body.get("stream"):
                    self._stream(body, message, finish, step.get("hold_last"))
                    return
                payload = json.dumps({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, body, message, finish, step_hold=None):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                chunks = []
                if message.get("content"):
                    for word in message["content"].split(" "):
                        chunks.append({"role": "assistant", "content": word + " "})
                if message.get("tool_calls"):
                    tc = message["tool_calls"][0]
                    chunks.append({"role": "assistant", "tool_calls": [{"index": 0, **tc}]})
                for i, delta in enumerate(chunks):
                    if step_hold is not None and i == len(chunks) - 1 and delta.get("content"):
                        step_hold.wait(timeout=120)
                    data = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                end = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                       "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
