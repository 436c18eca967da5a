"""The rolled-back demo session of the tool tests, on both backends."""

from tests.tools.conftest import demo_session  # noqa: F401 — re-exported fixture
