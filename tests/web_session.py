"""Signing in to the web interface from a test client: the CSRF token of a page and the login
form, shared by the UI tests and the leak matrix."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    m = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def log_in(c: TestClient, user: str, password: str) -> str:
    """Sign ``c`` in through the login form (its session cookie stays on the client); returns the
    ``Set-Cookie`` header."""
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return r.headers["set-cookie"]
