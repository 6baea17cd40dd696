from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from core.http import public


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
