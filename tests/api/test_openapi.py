"""The OpenAPI page documents every JSON answer of the API: each /api route (GET or POST) declares a
response model, so its 200/202 response has a schema. The routes that do not answer JSON are listed
below with the reason."""

from __future__ import annotations

import pytest

from api.app import create_app
from core.settings import Settings

# (method, path) → why the route has no JSON response schema
NOT_JSON = {
    ("get", "/api/charts/{name}"): "a PNG chart (FileResponse / StreamingResponse)",
    ("get", "/api/calls/{call_id}/audio"): "the call's recording, streamed with byte ranges",
}
CALLBACK_PREFIXES = ("/api/wecom", "/api/teams", "/api/messages")  # chat-platform callbacks, not a JSON API for clients


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return create_app(Settings(home=tmp_path_factory.mktemp("openapi-home"))).openapi()


def _success_schema(operation: dict) -> dict | None:
    for code in ("200", "201", "202"):
        content = operation.get("responses", {}).get(code, {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema:
            return schema
    return None


def _resolve(spec: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("type") == "array":
        return _resolve(spec, schema.get("items", {}))
    return schema


def json_routes(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, ops in spec["paths"].items() if path.startswith("/api")
            for method, op in ops.items() if method in ("get", "post")
            and (method, path) not in NOT_JSON and not path.startswith(CALLBACK_PREFIXES)]


def test_every_json_route_documents_its_answer(spec):
    routes = json_routes(spec)
    assert len(routes) >= 20
    missing = []
    for method, path, op in routes:
        schema = _success_schema(op)
        body = _resolve(spec, schema) if schema else {}
        if not body.get("properties"):  # an empty schema ({}) or a bare "object" documents nothing
            missing.append(f"{method.upper()} {path}")
    assert not missing, f"no response model: {missing}"


def test_the_exceptions_are_real_routes(spec):
    """A renamed file route must not leave a stale exception behind."""
    for method, path in NOT_JSON:
        assert method in spec["paths"].get(path, {}), (method, path)


def test_response_models_keep_undeclared_keys(spec):
    """Every response model allows extra keys, so what a route returns is never cut down to the declared fields."""
    for method, path, op in json_routes(spec):
        body = _resolve(spec, _success_schema(op))
        if path != "/api/chat":  # ChatOut (the chat's own model) declares every key it returns
            assert body.get("additionalProperties", True) is not False, f"{method.upper()} {path}"


@pytest.mark.parametrize(("method", "path", "model"), [
    ("get", "/api/alerts", "AlertOut"),
    ("get", "/api/jobs/{job_id}", "JobOut"),
    ("post", "/api/calls", "UploadedJobOut"),
    ("post", "/api/practice/sessions/{session_id}/end", "PracticeResultOut"),
    ("post", "/api/kpi", "KpiOut"),
])
def test_a_route_names_its_model_with_described_fields(spec, method, path, model):
    schema = _success_schema(spec["paths"][path][method])
    assert _resolve(spec, schema) is spec["components"]["schemas"][model]
    assert any("description" in p for p in spec["components"]["schemas"][model]["properties"].values())
