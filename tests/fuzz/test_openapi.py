"""The OpenAPI document (core/openapi.py, served at /api/openapi.json) covers every JSON
endpoint the URL configuration routes, and nothing else.

"Produces JSON" is decided from the code: a routed view of the platform's own apps
whose function (under its decorators) refers to `JsonResponse`, or to a function of
the platform that does (roll.auth.error, core.errors.error_response …), at any depth.
Such a view without a declaration fails; so does a declaration that no route reaches."""

import dis
import inspect
import types

import jsonschema
import pytest
from django.http import JsonResponse
from django.urls import resolve

from core import openapi

APPS = ("accounts", "chat", "core", "escalation", "notices", "roll", "tickets")

# Routed views of the platform that may answer JSON but are not JSON endpoints: none.
# (Every page may answer an *error* as JSON when the client asks for JSON; that is
# core.errors through Django's handlers, not the view.)
NOT_JSON_ENDPOINTS: set[str] = set()


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _own(obj) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module.split(".")[0] in APPS


def _error_pages():
    """core.errors answers an error as a page or as JSON by the request's Accept header:
    a view that refuses through it is a page, not a JSON endpoint."""
    from core import errors

    return {errors.error_response}


def makes_json(func, seen=None) -> bool:
    """The function refers to JsonResponse, or to one of the platform's functions that
    does (through module globals, `module.attribute` and closures, each function once)."""
    seen = set(_error_pages()) if seen is None else seen
    func = inspect.unwrap(func)
    code = getattr(func, "__code__", None)
    if code is None or func in seen:
        return False
    seen.add(func)
    scope = dict(func.__globals__)
    for cell_name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
        try:
            scope[cell_name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    targets = []
    for c in _codes(code):
        # A global (or closure) name, and `module.attribute` right after a module.
        loaded = None
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF"):
                loaded = scope.get(ins.argval)
                targets.append(loaded)
                continue
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(loaded, types.ModuleType):
                if loaded.__name__.split(".")[0] in APPS:
                    targets.append(getattr(loaded, ins.argval, None))
            loaded = None
    for target in targets:
        if isinstance(target, type) and issubclass(target, JsonResponse):
            return True
        if inspect.isfunction(target) and _own(target) and makes_json(target, seen):
            return True
    return False


def _routed():
    for path, params, callback, name in openapi.routes():
        if _own(inspect.unwrap(callback)):
            yield path, params, callback, name


def test_the_detector_sees_json_directly_and_through_a_helper():
    def direct(request):
        return JsonResponse({})

    def page(request):
        return None

    from roll import api

    assert makes_json(direct)
    assert not makes_json(page)
    assert makes_json(api.not_found)  # through roll.auth.error
    assert makes_json(api.close)  # JsonResponse under roll_key_required


def test_every_routed_view_that_makes_json_is_declared():
    undeclared = [
        f"{path} ({name})"
        for path, _, callback, name in _routed()
        if makes_json(callback)
        and not getattr(callback, "openapi", None)
        and (name or path) not in NOT_JSON_ENDPOINTS
    ]
    assert undeclared == []


def test_every_declaration_is_routed_and_every_declared_view_makes_json():
    routed = {callback for _, _, callback, _ in openapi.routes()}
    assert [v.__qualname__ for v in openapi.declared_views() if v not in routed] == []
    assert [v.__qualname__ for v in openapi.declared_views() if not makes_json(v)] == []


def test_the_known_json_endpoints_are_in_the_document():
    paths = openapi.document()["paths"]
    expected = {
        "/api/roll/v1/alerts": {"get", "post"},
        "/api/roll/v1/alerts/close": {"post"},
        "/api/{rest}": {"get"},
        "/api/openapi.json": {"get"},
        "/chat/{pk}/history.json": {"get"},
        "/chat/{pk}/members.json": {"get"},
        "/chat/direct/presence.json": {"get"},
        "/notices/unread.json": {"get"},
        "/unit-picker/search.json": {"get"},
        "/unit-picker/children.json": {"get"},
        "/unit-picker/units.json": {"get"},
        "/tickets/queue/count/": {"get"},
        "/kb/suggest.json": {"get"},
        "/roll/records/{pk}/reveal/": {"post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    assert {p: set(item) for p, item in paths.items()} == expected


def test_each_path_template_resolves_to_its_declared_view():
    samples = {"integer": "7", "string": "abc/def"}
    for path, _, operation, name in openapi.operations():
        concrete = path
        for p in path.split("{")[1:]:
            param = p.split("}")[0]
            concrete = concrete.replace(
                "{" + param + "}", samples["integer"] if "pk" in param else samples["string"]
            )
        match = resolve(concrete)
        assert operation in match.func.openapi, (path, name)


@pytest.mark.django_db
def test_the_document_is_served_to_anyone_and_is_valid(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["paths"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["session"]["in"] == "cookie"
    assert {schemes[n]["name"] for n in openapi.ROLL} == {
        "X-Roll-Key",
        "X-Roll-Timestamp",
        "X-Roll-Signature",
    }
    # The roll API asks for the three signature headers together; the health checks
    # for nothing; the pages' JSON for a session (and the CSRF token on POST).
    alerts = doc["paths"]["/api/roll/v1/alerts"]
    assert alerts["post"]["security"] == [{n: [] for n in openapi.ROLL}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/roll/records/{pk}/reveal/"]["post"]["security"] == [
        {"session": [], "csrf": []}
    ]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["responses"], (path, method)
            schemas = [p["schema"] for p in op.get("parameters", [])]
            schemas += [c["schema"] for c in op.get("requestBody", {}).get("content", {}).values()]
            for response in op["responses"].values():
                schemas += [c["schema"] for c in response.get("content", {}).values()]
            for schema in schemas:
                jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.django_db
def test_schemathesis_reads_every_operation(client):
    import schemathesis

    schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").json())
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == {(o.method, path) for path, _, o, _ in openapi.operations()}


@pytest.mark.django_db
def test_a_logged_out_program_gets_a_json_401_and_a_browser_the_login_page(client):
    """Every operation behind a session: asked for JSON, a JSON 401 as declared; a
    browser's request still goes to the login page."""
    session_ops = [
        (path.replace("{pk}", "1"), op)
        for path, _, op, _ in openapi.operations()
        if openapi.SESSION in op.security
    ]
    assert len(session_ops) >= 5
    for path, op in session_ops:
        call = client.post if op.method == "POST" else client.get
        response = call(path, HTTP_ACCEPT="application/json")
        assert response.status_code == 401, (path, response.status_code)
        assert response.json()["error"] == "login_required"
        assert 401 in op.responses
        page = call(path, HTTP_ACCEPT="text/html,application/xhtml+xml")
        assert page.status_code == 302 and page["Location"].startswith("/auth/login/")
