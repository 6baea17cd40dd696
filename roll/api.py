"""The HTTP API the roll system calls (ROLL_API.md). Authentication is
`roll.auth.roll_key_required`; the rules are in `roll.services`."""

import json

from django.http import JsonResponse
from django.views.decorators.http import require_http_methods

from roll import services
from roll.auth import error, roll_key_required


def _json_body(request):
    try:
        return json.loads(request.roll_body)
    except (ValueError, UnicodeDecodeError):
        return None


def _refused(exc: services.Refused) -> JsonResponse:
    return error(exc.status, exc.code, exc.detail)


@require_http_methods(["GET", "POST"])
@roll_key_required
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


@require_http_methods(["POST"])
@roll_key_required
def close(request):
    payload = _json_body(request)
    if payload is None:
        return error(400, "bad_json", "the body is not JSON")
    try:
        return JsonResponse(services.verdict(key=request.roll_key, payload=payload))
    except services.Refused as exc:
        return _refused(exc)
