"""Problem-record pages (school work list, oversight, keys). Each view states its
permission with an `accounts.scoping` decorator and asks `roll.selectors`; writes go
through `roll.services`."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, TooManyFieldsSent, ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import scoping
from accounts.models import Level, Unit
from accounts.selectors import unit_trail
from core.http import client_ip
from core.openapi import CSRF, PAGE_REFUSALS, SESSION, declare
from roll import auth, exports, selectors, services
from roll.forms import ExportReasonForm
from roll.models import ProblemRecord, RollKey
from roll.schemas import REVEAL

STATUS_FILTERS = ("open", "resolved", "closed", "all")


@scoping.login_and_unit_required
def index(request):
    if selectors.is_school_account(request.user):
        return _school_page(request, request.user.unit, can_work=True)
    if selectors.can_oversee(request.user):
        return _overview(request, request.user.unit)
    raise PermissionDenied


def _school_page(request, school: Unit, *, can_work: bool, handed_over: bool = False):
    status = request.GET.get("status", "open")
    status = status if status in STATUS_FILTERS else "open"
    context = {
        "school": school,
        **selectors.school_records(school, status=status),
        "status": status,
        "can_work": can_work,
        "can_unmask": selectors.can_unmask_unit(request.user, school),
        "can_unmask_export": can_work
        and not handed_over
        and selectors.can_unmask_unit(request.user, school),
        "trail": unit_trail(actor=request.user, unit=school) if handed_over or not can_work else [],
        "handed_over": handed_over,
    }
    template = "roll/_records.html" if request.GET.get("partial") else "roll/school.html"
    return render(request, template, context)


def _overview(request, unit: Unit):
    return render(
        request,
        "roll/overview.html",
        {
            "unit": unit,
            "children": selectors.progress_by_child(unit),
            "kinds": selectors.by_kind(unit),
            "slowest": selectors.slowest_counties(unit),
            "trail": unit_trail(actor=request.user, unit=unit),
            "is_county": unit.level == Level.COUNTY,
            "can_unmask_export": selectors.can_unmask_unit(request.user, unit),
            "can_keys": services.can_manage_keys(request.user, request.user.unit),
        },
    )


def _unit_in_reach(request, code) -> Unit:
    unit = Unit.objects.filter(code=code).first()
    if (
        unit is None
        or not selectors.can_oversee(request.user)
        or not scoping.can_view_unit(request.user, unit)
    ):
        raise Http404
    return unit


@scoping.login_and_unit_required
def unit_view(request, code):
    unit = _unit_in_reach(request, code)
    if unit.level == Level.SCHOOL:
        # A closed school's records are worked by its county (accounts.unit_changes).
        handed_over = selectors.can_work_school(request.user, unit)
        return _school_page(request, unit, can_work=handed_over, handed_over=handed_over)
    return _overview(request, unit)


@require_POST
@scoping.login_and_unit_required
def update(request):
    try:
        raw = request.POST.getlist("record")
    except TooManyFieldsSent:
        messages.error(request, _("At most 5,000 records at a time."))
        return redirect("roll_index")
    # Anything but a record id (ids past the database's integer range included) is
    # refused like a record of another school: the whole request, nothing changed.
    ids = [int(i) for i in raw if i.isascii() and i.isdigit() and len(i) <= 18]
    if len(ids) != len(raw):
        messages.error(request, _("Only the school's own accounts work its records."))
        return redirect("roll_index")
    try:
        n = services.records_update(
            actor=request.user,
            record_ids=ids,
            action=request.POST.get("action", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except PermissionDenied:
        messages.error(request, _("Only the school's own accounts work its records."))
    else:
        messages.success(request, _("%d records updated.") % n)
    # The county working a closed school's records goes back to that school's page.
    school = request.POST.get("school", "")
    if school.isascii() and school.isdigit() and len(school) <= 10:
        return redirect("roll_unit", code=school)
    return redirect("roll_index")


@declare(
    "POST",
    summary="The unmasked ID number of one record, for those allowed (audited)",
    security=(SESSION, CSRF),
    responses={200: REVEAL, **PAGE_REFUSALS},
    tags=("pages",),
)
@require_POST
@scoping.login_and_unit_required
def reveal(request, pk):
    """The unmasked ID number of one record, for those allowed; audited."""
    record = ProblemRecord.objects.select_related("school").filter(pk=pk).first()
    if record is None or not selectors.can_view(request.user, record):
        raise Http404
    if not selectors.can_unmask(request.user, record):
        raise PermissionDenied
    services.unmask_audit(actor=request.user, record=record, ip=client_ip(request))
    return JsonResponse({"id_number": record.id_number, "roll_no": record.roll_no})


@require_http_methods(["GET", "POST"])
@scoping.login_and_unit_required
def export(request):
    """The open records as Excel, ID numbers masked. `unmasked=1`: full numbers, for the
    managers selectors.can_unmask_unit names, after a form takes the reason (POST); the
    reason goes into the audit log with the export."""
    code = request.GET.get("unit")
    unit = request.user.unit if not code else _unit_in_reach(request, code)
    if not (selectors.can_oversee(request.user) or selectors.is_school_account(request.user)):
        raise PermissionDenied
    unmasked = request.GET.get("unmasked") == "1"
    reason = ""
    if unmasked:
        if not selectors.can_unmask_unit(request.user, unit):
            raise PermissionDenied
        form = ExportReasonForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            return render(request, "roll/export_reason.html", {"form": form, "unit": unit})
        reason = form.cleaned_data["reason"]
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    response, count = exports.open_records_workbook(unit, unmasked=unmasked)
    services.export_audit(
        actor=request.user,
        unit=unit,
        unmasked=unmasked,
        count=count,
        reason=reason,
        ip=client_ip(request),
    )
    return response


_NEW_KEY = "roll_new_key"


@scoping.manager_required
def keys(request):
    unit = request.user.unit
    if not services.can_manage_keys(request.user, unit):
        raise PermissionDenied
    if request.method == "POST":
        try:
            key, secret = services.key_issue(
                actor=request.user,
                unit=unit,
                label=request.POST.get("label", ""),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            # Shown once on the page the redirect leads to (so a reload issues nothing),
            # kept encrypted in the session until then.
            request.session[_NEW_KEY] = [key.pk, auth.seal(secret)]
        return redirect("roll_keys")
    created = None
    pending = request.session.pop(_NEW_KEY, None)
    if pending:
        key = RollKey.objects.filter(pk=pending[0], created_by=request.user).first()
        if key is not None:
            created = {"key": key, "secret": auth.unseal(pending[1])}
    return render(
        request,
        "roll/keys.html",
        {"unit": unit, "keys": selectors.keys_within(unit), "created": created},
    )


@require_POST
@scoping.manager_required
def key_revoke(request, pk):
    key = RollKey.objects.select_related("unit").filter(pk=pk).first()
    if key is None or not services.can_manage_keys(request.user, key.unit):
        raise Http404
    services.key_revoke(actor=request.user, key=key, ip=client_ip(request))
    messages.success(request, _("Key %s revoked.") % key.key_id)
    return redirect("roll_keys")
