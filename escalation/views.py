"""Duty roster and support settings pages. Permissions come from `accounts.scoping`
and `escalation.services.can_edit_*`; writes go through `escalation.services`."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import scoping
from accounts.models import Account, Level, Unit
from escalation import selectors, services, sla
from escalation.forms import WEEKDAYS, ScheduleForm, SlaForm
from escalation.models import SupportSettings, hhmm
from tickets.models import Priority


def _tier_for(request) -> Unit:
    code = request.GET.get("unit") or request.POST.get("unit")
    if not code:
        return request.user.unit
    unit = Unit.objects.filter(code=code).first()
    if unit is None or not scoping.can_view_unit(request.user, unit):
        raise Http404
    return unit


@scoping.login_and_unit_required
def roster(request):
    unit = _tier_for(request)
    can_edit = scoping.can_manage_unit(request.user, unit)
    if not (can_edit or (request.user.is_support_engineer and unit.pk == request.user.unit_id)):
        raise PermissionDenied
    return render(
        request,
        "escalation/roster.html",
        {
            "unit": unit,
            "rows": selectors.roster(unit, timezone.now()),
            "can_edit": can_edit,
            "reasons": selectors.reason_labels(),
            "weekdays": WEEKDAYS,
        },
    )


def _engineer(request, pk) -> Account:
    engineer = Account.objects.select_related("unit").filter(pk=pk).first()
    if engineer is None or not engineer.is_support_engineer:
        raise Http404
    if not scoping.can_view_unit(request.user, engineer.unit):
        raise Http404
    return engineer


@require_POST
@scoping.login_and_unit_required
def duty(request, pk):
    """On/off duty and away: the engineer for itself, or a manager of the tier."""
    engineer = _engineer(request, pk)
    field = request.POST.get("field")
    value = request.POST.get("value") == "1"
    if field not in ("on_duty", "away"):
        messages.error(request, _("Unknown setting."))
    else:
        try:
            services.duty_update(actor=request.user, engineer=engineer, **{field: value})
        except PermissionDenied:
            messages.error(request, _("You cannot change this engineer's duty."))
        else:
            messages.success(request, _("Duty status saved."))
    target = request.POST.get("next") or ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("support_roster")


@scoping.manager_required
def engineer(request, pk):
    engineer = _engineer(request, pk)
    if not scoping.can_manage_unit(request.user, engineer.unit):
        raise PermissionDenied
    profile = selectors.profile_of(engineer)
    initial = {"capacity": profile.capacity}
    for n in range(7):
        initial[f"day{n}"] = ", ".join(
            f"{hhmm(s.start)}-{hhmm(s.end)}" for s in engineer.duty_slots.all() if s.weekday == n
        )
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.slots_replace(
                actor=request.user, engineer=engineer, rows=form.cleaned_data["rows"]
            )
            services.duty_update(
                actor=request.user, engineer=engineer, capacity=form.cleaned_data["capacity"]
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            messages.success(request, _("Roster saved for %s.") % (engineer.full_name or engineer))
            return redirect(f"{redirect('support_roster').url}?unit={engineer.unit.code}")
    return render(request, "escalation/engineer.html", {"engineer": engineer, "form": form})


@scoping.manager_required
def settings_page(request):
    unit = _tier_for(request)
    if not services.can_edit_sla(request.user, unit):
        raise PermissionDenied
    current = sla.effective_targets(unit)
    initial = {}
    for p, (response, resolution) in current.items():
        initial[f"{p}_response"], initial[f"{p}_resolution"] = response, resolution
    form = SlaForm(request.POST or None, initial=initial)
    if request.method == "POST" and request.POST.get("form") == "sla" and form.is_valid():
        try:
            services.sla_targets_set(actor=request.user, unit=unit, targets=form.targets())
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            messages.success(request, _("SLA targets saved."))
            return redirect(f"{request.path}?unit={unit.code}")
    prefecture_tier = SupportSettings.objects.filter(province=unit, prefecture_tier=True).exists()
    return render(
        request,
        "escalation/settings.html",
        {
            "unit": unit,
            "form": form,
            "priorities": Priority.choices,
            "is_province": unit.level == Level.PROVINCE,
            "prefecture_tier": prefecture_tier,
        },
    )


@require_POST
@scoping.manager_required
def tiers(request):
    unit = _tier_for(request)
    try:
        services.prefecture_tier_set(
            actor=request.user, province=unit, enabled=request.POST.get("prefecture_tier") == "1"
        )
    except PermissionDenied:
        messages.error(request, _("Only the province's managers switch its prefecture tier."))
    else:
        messages.success(request, _("Support tiers saved."))
    return redirect(f"{redirect('support_settings').url}?unit={unit.code}")
