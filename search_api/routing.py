"""What the OpenAPI document says about a path, for the error handlers: the methods it has.

Integer path parameters are declared with Starlette's ``int`` convertor (``/tags/{tag_id:int}``),
so ``PATCH /tags/apply`` — a path that exists, with a method it does not have — matches no route
with that method and is a 405 rather than a 422 about ``apply`` not being a number. The router
answers a 405 with the methods of the first route whose path matched; ``Allow`` must list every
method of the path (RFC 9110), so it is taken from the schema instead.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def allowed_methods(app: FastAPI, path: str) -> list[str] | None:
    """The methods the OpenAPI document gives ``path``, or None for a path it does not describe.
    (Only 405 answers ask, so the templates are matched one by one.)"""
    paths: dict[str, dict[str, Any]] = app.openapi().get("paths", {})
    if path in paths:  # a fixed path (``/tags/apply``) before the templates it also fits
        return sorted(m.upper() for m in paths[path] if m in _METHODS)
    for template, operations in paths.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return sorted(m.upper() for m in operations if m in _METHODS)
    return None
