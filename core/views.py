from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from core.http import public
from core.openapi import declare

_STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}


@declare("GET", summary="The process is alive and serving", responses={200: _STATUS})
@public
@never_cache
def healthz(request):
    """The process is alive and serving."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


@declare(
    "GET",
    summary="Database and Redis reachable (503 names the failing part)",
    responses={
        200: _STATUS,
        503: {
            **_STATUS,
            "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
        },
    },
)
@public
@never_cache
def readyz(request):
    """Database and Redis reachable; a failing part is named with its error."""
    checks, ok = {}, True
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # report any failure by name rather than a 500
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"[:300]
            ok = False
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503
    )


@declare(
    "GET", summary="This document", responses={200: {"type": "object", "required": ["openapi"]}}
)
@public
@never_cache
def openapi_document(request):
    """The OpenAPI document of every JSON endpoint, built from the URL configuration
    (core/openapi.py)."""
    from core import openapi

    return JsonResponse(
        openapi.document(server_url=request.build_absolute_uri("/")),
        json_dumps_params={"ensure_ascii": False},
    )
