"""api.errors: a domain error that leaves a route is answered like the HTTPException the routes raised for it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from core.errors import ConfigError, NotFoundError, PermissionDenied, UserInputError


@pytest.mark.parametrize(("error", "status"), [(PermissionDenied("not yours: ask your manager"), 403),
                                                (NotFoundError("no lead 9; list leads with GET /api/leads"), 404),
                                                (UserInputError("limit must be 1..500"), 422),
                                                (ConfigError("set REPCOPILOT_X"), 422)])
def test_a_domain_error_becomes_its_status_with_the_message_as_detail(error, status):
    app = FastAPI()
    errors.register(app)

    @app.get("/boom")
    async def boom():
        raise error

    response = TestClient(app).get("/boom")
    assert response.status_code == status
    assert response.json() == {"detail": str(error)}

