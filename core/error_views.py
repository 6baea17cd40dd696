"""The platform's error pages (config/urls.py handler400/403/404/500, CSRF_FAILURE_VIEW):
thin views over core/errors.py."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.utils.translation import gettext as _

from config.limits import limit_for
from core.errors import error_response, too_large_message
from core.outage import outages, part_of

RETRY_AFTER_SECONDS = 10  # as the balancer's 503 page says (deploy/errors/503.http)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        # Django calls a body past DATA_UPLOAD_MAX_MEMORY_SIZE a bad request (400); it is
        # a request too large, and the page says what the limit is.
        code, message = too_large_message(limit_for(request.path, settings.BODY_LIMITS))
        return error_response(request, 413, code=code, message=message)
    if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        return error_response(
            request,
            400,
            code="too_many_fields",
            message=_("The form has too many fields or files."),
        )
    return error_response(request, 400)


def permission_denied(request, exception=None):
    return error_response(request, 403)


def page_not_found(request, exception=None):
    return error_response(request, 404)


def server_error(request):
    # Called inside Django's `except` block: the exception is the one being handled.
    exc = sys.exc_info()[1]
    part = part_of(exc)
    if part is not None:
        outages.failed(part, exc)
        return unavailable(request)
    return error_response(request, 500)


def unavailable(request):
    return error_response(request, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def csrf_failure(request, reason=""):
    return error_response(
        request,
        403,
        code="csrf_failed",
        message=_(
            "This page has expired or your browser refused its cookie. Go back, reload the "
            "page and try again."
        ),
    )
