"""The OpenAPI 3.1 document of the platform's JSON endpoints, built from the code.

Each app declares its JSON views next to the view, with `declare(...)` as the view's
outermost decorator: the HTTP method, the query parameters, the request body's and
each response's JSON Schema, and the security (the session cookie for the pages'
JSON, the roll system's signed headers for /api/roll/). `document()` walks the URL
resolver and emits an operation for every routed view that carries declarations, so
the document is exactly the URL configuration's JSON part; tests/fuzz/test_openapi.py
fails on a routed view that produces JSON without being declared, and schemathesis
(tests/fuzz/test_schemathesis.py) checks the app against the document.

Hand-written, and small: libraries that generate OpenAPI from Django (DRF's
generators, drf-spectacular, django-ninja) describe their own views and serializers,
and these views are plain Django functions; this module only needs a decorator and a
resolver walk. It imports no feature app (core never does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OPENAPI_VERSION = "3.1.0"

# Security scheme names (components.securitySchemes).
SESSION = "session"  # a logged-in page session: the session cookie
CSRF = "csrf"  # and, on POST, the CSRF token header
ROLL = ("rollKey", "rollTimestamp", "rollSignature")  # all three, always together

# The error bodies the platform answers with: the roll API's `{"error": code, "detail"}`
# (ROLL_API.md) and the pages' `{"error": {"status", "code", "message"}}` (core.errors).
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "required": ["code"],
                    "properties": {
                        "status": {"type": "integer"},
                        "code": {"type": "string", "minLength": 1},
                        "message": {"type": "string"},
                    },
                },
            ]
        },
        "detail": {"type": "string"},
    },
}

# How a page's JSON endpoint refuses (asked for JSON: `Accept: application/json`): not
# logged in (a browser without that header is sent to the login page instead), not
# allowed, no such object (or not in the account's reach).
PAGE_REFUSALS = {401: ERROR, 403: ERROR, 404: ERROR}


@dataclass(frozen=True)
class Operation:
    method: str
    summary: str
    responses: dict[int, dict | None]  # status -> JSON Schema of the body (None: no JSON)
    security: tuple[str, ...] = ()
    query: dict[str, dict] = field(default_factory=dict)  # name -> schema (all optional)
    body: dict | None = None  # JSON Schema of a JSON request body
    params: dict[str, dict] = field(default_factory=dict)  # path parameter schema overrides
    tags: tuple[str, ...] = ()
    description: str = ""


# Every declared view (routed or not): a declaration without a route is caught by a test.
_declared: list = []


def declare(
    method: str,
    *,
    summary: str,
    responses: dict[int, dict | None],
    security: tuple[str, ...] | str = (),
    query: dict[str, dict] | None = None,
    body: dict | None = None,
    params: dict[str, dict] | None = None,
    tags: tuple[str, ...] = (),
    description: str = "",
):
    """Declare one JSON operation of the decorated view (stack one per method). Use it
    outermost, above the permission decorators, so the routed callable carries it."""
    operation = Operation(
        method=method.upper(),
        summary=summary,
        responses=responses,
        security=(security,) if isinstance(security, str) else tuple(security),
        query=dict(query or {}),
        body=body,
        params=dict(params or {}),
        tags=tuple(tags),
        description=description,
    )

    def mark(view):
        existing = getattr(view, "openapi", ())
        if any(o.method == operation.method for o in existing):
            raise ValueError(f"{view.__qualname__}: {operation.method} declared twice")
        view.openapi = (*existing, operation)
        if view not in _declared:
            _declared.append(view)
        return view

    return mark


def declared_views() -> list:
    return list(_declared)


# --- walking the URL configuration --------------------------------------------------------

_CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0},
    "str": {"type": "string", "pattern": "^[^/]+$", "minLength": 1},
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "minLength": 1},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string", "minLength": 1},
}
_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


def _pattern_text(pattern) -> tuple[str, dict[str, dict]]:
    """A URL pattern piece as an OpenAPI path template and its parameters' schemas."""
    from django.urls.resolvers import RoutePattern

    params: dict[str, dict] = {}
    text = str(pattern)
    if isinstance(pattern, RoutePattern):

        def route(m):
            params[m["name"]] = dict(_CONVERTER_SCHEMAS.get(m["conv"] or "str", {"type": "string"}))
            return "{" + m["name"] + "}"

        return _ROUTE_PARAM.sub(route, text), params

    def group(m):
        params[m["name"]] = {"type": "string"}
        return "{" + m["name"] + "}"

    return _REGEX_GROUP.sub(group, text.removeprefix("^").removesuffix("$")), params


def routes(resolver=None, prefix: str = "", params: dict | None = None):
    """(path template, path parameters, callback, url name) for every routed view."""
    from django.urls import URLResolver, get_resolver

    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        text, found = _pattern_text(entry.pattern)
        merged = {**(params or {}), **found}
        if isinstance(entry, URLResolver):
            yield from routes(entry, prefix + text, merged)
        else:
            yield "/" + prefix + text, merged, entry.callback, entry.name


def operations():
    """(path template, path parameters, Operation, url name) of every declared, routed view."""
    for path, params, callback, name in routes():
        for operation in getattr(callback, "openapi", ()):
            yield path, params, operation, name


# --- the document ---------------------------------------------------------------------------

_SECURITY_SCHEMES = {
    SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "A logged-in session (the login page sets it).",
    },
    CSRF: {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "Django's CSRF token (the csrftoken cookie's value), on every POST.",
    },
    "rollKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Roll-Key",
        "description": "The roll system's key id (ROLL_API.md, Authentication).",
    },
    "rollTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Roll-Timestamp",
        "description": "Unix time in seconds, within 300 s of the server's clock.",
    },
    "rollSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Roll-Signature",
        "description": (
            'sha256= + hex HMAC-SHA256 of "{timestamp}.{raw body}" (GET: '
            '"{timestamp}.{path with query}"), keyed with the key\'s secret; a signature '
            "is accepted once."
        ),
    },
}

_REASONS = {
    200: "OK",
    201: "Created",
    302: "Not logged in: a redirect to the login page",
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Body too large",
    429: "Too many requests",
    503: "A service the platform needs is unreachable",
}


def _response(status: int, schema: dict | None) -> dict:
    out: dict = {"description": _REASONS.get(status, str(status))}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _security(names: tuple[str, ...]) -> list[dict]:
    if not names:
        return []
    if names == ROLL:
        return [{name: [] for name in ROLL}]
    return [{name: [] for name in names}]


def document(server_url: str = "/") -> dict:
    paths: dict[str, dict] = {}
    for path, params, op, name in operations():
        item = paths.setdefault(path, {})
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": op.params.get(p, schema)}
            for p, schema in params.items()
        ] + [
            {"name": q, "in": "query", "required": False, "schema": schema}
            for q, schema in op.query.items()
        ]
        entry: dict = {
            "operationId": f"{name or path.strip('/').replace('/', '_')}_{op.method.lower()}",
            "summary": op.summary,
            "responses": {str(s): _response(s, schema) for s, schema in op.responses.items()},
            "security": _security(op.security),
        }
        if op.description:
            entry["description"] = op.description
        if op.tags:
            entry["tags"] = list(op.tags)
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.body}},
            }
        item[op.method.lower()] = entry
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "学籍系统沟通服务平台 — JSON endpoints",
            "version": "1",
            "description": (
                "Every JSON endpoint of the platform, generated from the URL configuration "
                "and the views' declarations (core/openapi.py). The roll API's contract is "
                "ROLL_API.md; the pages' JSON endpoints serve the platform's own pages."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": _SECURITY_SCHEMES, "schemas": {"Error": ERROR}},
    }
