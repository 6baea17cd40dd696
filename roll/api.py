"""The HTTP API the roll system calls (ROLL_API.md). Authentication is
`roll.auth.roll_key_required`; the rules are in `roll.services`."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.scoping import public
from core.openapi import ERROR, ROLL, declare
from roll import schemas, services
from roll.auth import error, roll_key_required


def _json_body(request):
    try:
        return json.loads(request.roll_body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting deeper than Python's stack
        return None


def _refused(exc: services.Refused) -> JsonResponse:
    return error(exc.status, exc.code, exc.detail)


_REFUSALS = {400: ERROR, 401: ERROR, 413: ERROR}


@declare(
    "GET",
    summary="The alerts of the key's area, in the order their status last changed",
    security=ROLL,
    query=schemas.FEED_QUERY,
    responses={200: schemas.FEED, 400: ERROR, 401: ERROR},
    tags=("roll API",),
)
@declare(
    "POST",
    summary="A batch of alerts from the roll system (each judged alone)",
    security=ROLL,
    body=schemas.INTAKE,
    responses={200: schemas.INTAKE_RESULT, **_REFUSALS},
    tags=("roll API",),
)
@roll_key_required("GET", "POST")
def alerts(request):
    try:
        if request.method == "GET":
            return JsonResponse(
                services.feed(
                    key=request.roll_key,
                    status=request.GET.get("status", ""),
                    since=request.GET.get("since", ""),
                    limit=request.GET.get("limit", services.DEFAULT_FEED),
                ),
                json_dumps_params={"ensure_ascii": False},
            )
        payload = _json_body(request)
        if payload is None:
            return error(400, "bad_json", "the body is not JSON")
        return JsonResponse(
            services.intake(key=request.roll_key, payload=payload),
            json_dumps_params={"ensure_ascii": False},
        )
    except services.Refused as exc:
        return _refused(exc)


@declare(
    "POST",
    summary="The roll system's verdict on resolved alerts: verified closes, reopened sends back",
    security=ROLL,
    body=schemas.CLOSE,
    responses={200: schemas.CLOSE_RESULT, **_REFUSALS},
    tags=("roll API",),
)
@roll_key_required("POST")
def close(request):
    payload = _json_body(request)
    if payload is None:
        return error(400, "bad_json", "the body is not JSON")
    try:
        return JsonResponse(services.verdict(key=request.roll_key, payload=payload))
    except services.Refused as exc:
        return _refused(exc)


@declare(
    "GET",
    summary="Any other address under /api/: a JSON 404",
    # One plain segment: never an address that exists (`openapi.json`, `roll/v1/alerts`).
    params={"rest": {"type": "string", "pattern": "^[a-z0-9_-]{1,24}$"}},
    responses={404: ERROR},
    tags=("roll API",),
)
@public
@csrf_exempt
def not_found(request, rest=""):
    """Any other address under /api/: a JSON 404, as the roll system expects JSON."""
    return error(404, "not_found", "no such API address; see ROLL_API.md")
