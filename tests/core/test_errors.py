"""Error pages in the platform's look and language, HTML or JSON by path (core/errors.py),
and the database or Redis unreachable answered 503, logged once per outage."""

import logging

import pytest
import redis
from django.db import OperationalError, transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import path
from django.utils import translation

from accounts import services
from accounts.models import Level
from config import urls as platform_urls
from core import outage
from tests import factories

# The platform's URLs and error handlers, plus views that fail on purpose.
handler400 = platform_urls.handler400
handler403 = platform_urls.handler403
handler404 = platform_urls.handler404
handler500 = platform_urls.handler500


def _boom(request):
    raise RuntimeError("a bug")


def _database_down(request):
    raise OperationalError('connection to server at "127.0.0.1", port 5999 failed')


def _redis_down(request):
    raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6999")


def _write_then_fail(request):
    # A view that writes in one transaction and then loses the database: nothing stays.
    with transaction.atomic():
        factories.unit(Level.PROVINCE, "990000", "写了一半的单位", services.ministry_ensure())
        raise OperationalError("server closed the connection unexpectedly")


def _bare_forbidden(request):
    return HttpResponse(status=403)


urlpatterns = [
    path("test/boom/", _boom),
    path("test/db-down/", _database_down),
    path("test/redis-down/", _redis_down),
    path("test/half-write/", _write_then_fail),
    path("test/bare-403/", _bare_forbidden),
    *platform_urls.urlpatterns,
]


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def anon():
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def _fresh_outages(monkeypatch):
    monkeypatch.setattr(outage, "outages", outage.OutageLog())
    import core.error_views

    monkeypatch.setattr(core.error_views, "outages", outage.outages)


def _zh(text):
    with translation.override("zh-hans"):
        return translation.gettext(text)


def assert_platform_page(response, status, title):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert _zh("Student Roll System Communication Platform") in html
    assert "/static/css/app.css" in html
    assert _zh(title) in html
    assert "<script" not in html and "style=" not in html  # strict CSP
    return html


@pytest.mark.django_db
def test_404_is_the_platforms_chinese_page_and_lists_no_urls(anon):
    response = anon.get("/no-such-page/")
    html = assert_platform_page(response, 404, "Page not found")
    assert "页面不存在" in html
    assert "URLconf" not in html and "people/" not in html


@pytest.mark.django_db
def test_404_is_json_when_json_is_asked_for(anon):
    response = anon.get("/no-such-page/", HTTP_ACCEPT="application/json")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": _zh("The page you asked for does not exist."),
        "status": 404,
    }


@pytest.mark.django_db
def test_the_roll_api_keeps_its_error_shape(anon):
    response = anon.get("/api/roll/v1/nothing")
    assert response.status_code == 404
    assert set(response.json()) >= {"error", "detail"}
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_403_is_the_platforms_page(tree, client_for):
    school_staff = factories.staff(tree.school)
    response = client_for(school_staff).get("/audit/")
    assert_platform_page(response, 403, "Not allowed")


@pytest.mark.django_db
def test_405_from_require_post_gets_the_page_and_keeps_allow(tree, client_for):
    manager = factories.manager(tree.county)
    target = factories.staff(tree.school)
    response = client_for(manager).get(f"/people/{target.pk}/disable/")
    assert_platform_page(response, 405, "Method not allowed")
    assert response["Allow"] == "POST"
    json_response = client_for(manager).get(
        f"/people/{target.pk}/disable/", HTTP_ACCEPT="application/json"
    )
    assert json_response.json()["error"] == "method_not_allowed"


@pytest.mark.django_db
def test_a_bare_error_response_gets_the_page(anon, failing_urls):
    assert_platform_page(anon.get("/test/bare-403/"), 403, "Not allowed")


@pytest.mark.django_db
def test_a_body_past_the_form_limit_is_413_saying_the_limit(anon, settings):
    body = "login=a&password=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = anon.post("/auth/login/", body, content_type="application/x-www-form-urlencoded")
    html = assert_platform_page(response, 413, "Request too large")
    assert "1 MiB" in html


@pytest.mark.django_db
def test_csrf_refusal_is_the_platforms_page(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/auth/login/", {"login": "a", "password": "b"})
    html = assert_platform_page(response, 403, "Not allowed")
    assert "刷新" in html


@pytest.mark.django_db
def test_500_is_the_platforms_page_without_details(anon, failing_urls):
    html = assert_platform_page(anon.get("/test/boom/"), 500, "Something went wrong")
    assert "a bug" not in html and "Traceback" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/test/db-down/", "/test/redis-down/"])
def test_an_unreachable_part_is_503_with_retry_after(anon, failing_urls, url):
    response = anon.get(url)
    html = assert_platform_page(response, 503, "Service unavailable")
    assert response["Retry-After"] == "10"
    assert "5999" not in html and "6999" not in html
    api = anon.get(url, HTTP_ACCEPT="application/json")
    assert api.status_code == 503
    assert api.json()["error"] == "unavailable"
    assert api["Retry-After"] == "10"


@pytest.mark.django_db
def test_an_outage_is_logged_once_with_counts_not_a_traceback_per_request(
    anon, failing_urls, caplog
):
    caplog.set_level(logging.INFO)
    for _ in range(20):
        assert anon.get("/test/db-down/").status_code == 503
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].name == "core.outage"
    assert "database unreachable" in errors[0].getMessage()
    assert errors[0].exc_info is None
    assert outage.outages.is_open("database")
    caplog.clear()
    # The database answers again: the next request that gets through closes the outage.
    assert anon.get("/auth/login/").status_code == 200
    assert not outage.outages.is_open("database")
    recovered = [r.getMessage() for r in caplog.records if r.name == "core.outage"]
    assert len(recovered) == 1
    assert "database reachable again" in recovered[0] and "20 requests" in recovered[0]


@pytest.mark.django_db(transaction=True)
def test_a_write_cut_short_by_the_outage_leaves_nothing(anon, failing_urls):
    from accounts.models import Unit

    assert anon.get("/test/half-write/").status_code == 503
    assert not Unit.objects.filter(code="990000").exists()


def test_the_page_renders_in_english_when_asked(rf):
    from core.errors import error_response

    with translation.override("en"):
        response = error_response(rf.get("/x/"), 404)
    assert b"Page not found" in response.content


# --- Redis unreachable under a real web process ------------------------------------------

from tests.faults.conftest import fault_redis, process_env, web  # noqa: E402, F401


@pytest.mark.faults
def test_redis_down_is_503_logged_once_then_recovery_without_a_restart(web, fault_redis):  # noqa: F811
    """The web process (as `make serve` runs it) on a redis-server of the test's own: the
    login's rate-limit counters live in Redis, so with Redis killed a login answers 503
    (the page, or JSON when asked), the log has one line for the outage and no
    traceback; Redis started again, the same process answers again."""
    import requests

    session = requests.Session()
    login = f"{web.url}/auth/login/"

    def attempt(accept="text/html"):
        token = session.get(login, timeout=30).cookies.get("csrftoken") or session.cookies.get(
            "csrftoken"
        )
        return session.post(
            login,
            data={"login": "nobody", "password": "wrong", "csrfmiddlewaretoken": token},
            headers={"Referer": login, "Accept": accept},
            timeout=30,
        )

    assert attempt().status_code == 200  # the form again, with its error
    pid = web.proc.pid
    fault_redis.kill()
    log_at_kill = web.log.stat().st_size
    during = [attempt() for _ in range(5)] + [attempt("application/json") for _ in range(5)]
    assert [r.status_code for r in during] == [503] * 10
    assert all(r.headers["Retry-After"] == "10" for r in during)
    assert "服务暂不可用" in during[0].text
    assert during[-1].json()["error"] == "unavailable"

    fault_redis.start()  # the same port
    assert attempt().status_code == 200
    assert web.proc.pid == pid and web.proc.poll() is None

    with open(web.log, "rb") as f:
        f.seek(log_at_kill)
        log = f.read().decode(errors="replace")
    assert log.count("Traceback") == 0, log[-3000:]
    assert log.count("redis unreachable") == 1, log[-3000:]


@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_djangos_own_error_views_render_the_platforms_pages_too(rf, status):
    """templates/<status>.html read right when Django renders them with no title or
    message (its default views), not only through core/errors.py."""
    from django.template.loader import render_to_string

    from core.errors import STATUSES

    with translation.override("zh-hans"):
        html = render_to_string(f"{status}.html", {})
        title, message = str(STATUSES[status][1]), str(STATUSES[status][2])
    assert f"<title>{status} {title}" in html
    assert f"<h1>{title}</h1>" in html and message in html
