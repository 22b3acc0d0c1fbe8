"""Problem details (RFC 9457): how the services answer a request they cannot serve."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    """``response`` is a problem of ``status`` and ``type_``, with a title and no stack trace.

    Returns the problem's body, for the test's own checks of the details.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"] == type_
    assert body["status"] == status
    assert body["title"]
    assert "Traceback" not in response.text
    return body
