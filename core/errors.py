"""One way to answer with an error: an HTML page in the platform's look, or JSON.

The choice is by path and Accept header: addresses under /api/ (the roll API) and
requests that prefer JSON over HTML get JSON in the roll API's error shape
(ROLL_API.md: `{"error": code, "detail": message}`, here with `status` added — the
contract only grows by fields); everything else gets a page rendered from
`templates/<status>.html` (or `templates/errors/_base.html`).

The page is rendered without the request's context processors on purpose: an error
page must render when the database or Redis is down (the navigation's unread counts
query both), and before any middleware has run (the body cap in core/handlers.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string, select_template
from django.utils.translation import gettext_lazy as _

# status: (code for JSON, page title, default message)
STATUSES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", _("Bad request"), _("The request could not be understood.")),
    403: ("forbidden", _("Not allowed"), _("You are not allowed to see this page or do this.")),
    404: ("not_found", _("Page not found"), _("The page you asked for does not exist.")),
    405: (
        "method_not_allowed",
        _("Method not allowed"),
        _("This address does not accept this kind of request."),
    ),
    413: ("too_large", _("Request too large"), _("The request is larger than allowed.")),
    429: (
        "too_many_requests",
        _("Too many requests"),
        _("Too many requests; please wait a moment and try again."),
    ),
    500: (
        "server_error",
        _("Something went wrong"),
        _("Something went wrong on our side. It has been logged; please try again later."),
    ),
    503: (
        "unavailable",
        _("Service unavailable"),
        _("The service is briefly unavailable. Please try again in a moment."),
    ),
}


def wants_json(path: str, accept: str = "") -> bool:
    """JSON for /api/… and for clients that ask for JSON rather than HTML."""
    if path.startswith("/api/"):
        return True
    accept = accept.lower()
    if "application/json" not in accept:
        return False
    # A browser's Accept names text/html first; fetch() callers asking for JSON do not.
    html = accept.find("text/html")
    return html < 0 or accept.find("application/json") < html


def error_response(
    request=None,
    status: int = 500,
    *,
    code: str | None = None,
    message: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    path: str | None = None,
    accept: str | None = None,
    context: Mapping | None = None,
) -> HttpResponse:
    """An error response for `request` (or, with no request yet, for `path`/`accept`).

    `code` and `message` default by status; `headers` are added (e.g. Retry-After);
    `context` is passed to the HTML template (e.g. `retry_after` for 429.html).
    """
    default_code, default_title, default_message = STATUSES.get(
        status, ("error", _("Error"), _("The request could not be completed."))
    )
    code = code or default_code
    message = str(message or default_message)
    if request is not None:
        path = request.path if path is None else path
        accept = request.headers.get("Accept", "") if accept is None else accept
    if wants_json(path or "/", accept or ""):
        response: HttpResponse = JsonResponse(
            {"error": code, "detail": message, "status": status}, status=status
        )
    else:
        page = {
            "status": status,
            "code": code,
            "title": str(title or default_title),
            "message": message,
            "platform_name": settings.PLATFORM_NAME,
            **(context or {}),
        }
        try:
            template = select_template([f"{status}.html", "errors/_base.html"])
            html = template.render(page)
        except TemplateDoesNotExist:  # pragma: no cover - the base ships with the code
            html = render_to_string("errors/_base.html", page)
        response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response


def too_large_message(limit) -> tuple[str, str]:
    """The code and message of a 413 for a config.limits.BodyLimit."""
    from config import limits

    if limit.name == "roll_api":  # the roll API's own words (roll/auth.py, ROLL_API.md)
        return "too_large", f"the body is limited to {limits.mib(limits.ROLL_MAX_BYTES)} MiB"
    if limit.name == "upload":
        return "too_large", _(
            "Attachments may be at most %(file_mb)s MB each, and at most %(files)s per "
            "submission; split or compress the files and try again."
        ) % {
            "file_mb": limits.mib(settings.NOTICE_MAX_FILE_BYTES),
            "files": settings.NOTICE_MAX_FILES,
        }
    return "too_large", _("The submission is larger than the %(mib)s MiB allowed.") % {
        "mib": limits.mib(limit.max_bytes)
    }


class ErrorPageMiddleware:
    """Gives an empty error response (Django's require_POST 405, a bare
    HttpResponseForbidden, …) the platform's page or JSON, keeping its headers (Allow,
    Retry-After) and cookies. Also tells core/outage.py that a request got through."""

    KEEP = ("Allow", "Retry-After", "WWW-Authenticate", "Vary")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        status = response.status_code
        if status >= 400 and not response.streaming and not response.content:
            headers = {h: response.headers[h] for h in self.KEEP if h in response.headers}
            decorated = error_response(request, status, headers=headers)
            decorated.cookies = response.cookies
            # Not response.close(): that sends request_finished, which closes the
            # database connection the session middleware still needs.
            response = decorated
        if status != 503:
            from core.outage import outages

            outages.succeeded()
        return response
