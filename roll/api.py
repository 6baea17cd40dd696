"""The HTTP API the roll system calls (ROLL_API.md). Authentication is
`roll.auth.roll_key_required`; the rules are in `roll.services`."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.scoping import public
from roll import services
from roll.auth import error, roll_key_required


def _json_body(request):
    try:
        return json.loads(request.roll_body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting deeper than Python's stack
        return None


def _refused(exc: services.Refused) -> JsonResponse:
    return error(exc.status, exc.code, exc.detail)


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


@roll_key_required("POST")
def close(request):
    payload = _json_body(request)
    if payload is None:
        return error(400, "bad_json", "the body is not JSON")
    try:
        return JsonResponse(services.verdict(key=request.roll_key, payload=payload))
    except services.Refused as exc:
        return _refused(exc)


@public
@csrf_exempt
def not_found(request, rest=""):
    """Any other address under /api/: a JSON 404, as the roll system expects JSON."""
    return error(404, "not_found", "no such API address; see ROLL_API.md")
