"""Pages of school changes (学校变更, issue 15 item 6): a county proposes additions,
renames and closures of its schools (one at a time or an Excel workbook); the level
above approves or refuses them. The rules are in accounts.unit_changes."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts import scoping
from accounts import unit_changes as changes
from accounts.models import UnitChangeKind
from core.http import client_ip

# The largest workbook accepted (a county's list of schools fits many times over).
MAX_WORKBOOK_BYTES = 2 * 1024 * 1024


class _SingleFileInput(forms.ClearableFileInput):
    template_name = "core/widgets/file_picker.html"


class _SchoolChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name}（{obj.code}）"


class AddForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("School identifier code"),
        max_length=20,
        help_text=gettext_lazy("10 digits."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    name = forms.CharField(label=gettext_lazy("School name"), max_length=100)
    school_type = forms.ChoiceField(
        label=gettext_lazy("School type"),
        choices=[("", "—")] + [(t, t) for t in changes.SCHOOL_TYPES],
    )
    reason = forms.CharField(
        label=gettext_lazy("Note (optional)"),
        required=False,
        max_length=changes.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RenameForm(forms.Form):
    unit = _SchoolChoice(label=gettext_lazy("School"), queryset=None, empty_label="—")
    name = forms.CharField(label=gettext_lazy("New name"), max_length=100)
    reason = forms.CharField(
        label=gettext_lazy("Note (optional)"),
        required=False,
        max_length=changes.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, county, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = changes.open_schools(county)


class CloseForm(forms.Form):
    unit = _SchoolChoice(label=gettext_lazy("School"), queryset=None, empty_label="—")
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=changes.MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, county, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = changes.open_schools(county)


class BatchForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Excel workbook (.xlsx)"), widget=_SingleFileInput)


FORMS = {
    UnitChangeKind.ADD: AddForm,
    UnitChangeKind.RENAME: RenameForm,
    UnitChangeKind.CLOSE: CloseForm,
}


def _forms(actor, data=None, kind=None) -> dict:
    county = actor.unit
    out = {}
    for k, cls in FORMS.items():
        bound = data if k == kind else None
        kwargs = {} if k == UnitChangeKind.ADD else {"county": county}
        out[k] = cls(bound, prefix=k, **kwargs)
    return out


def _page(request, *, forms_by_kind=None, batch_form=None, batch_errors=None, status=200):
    actor = request.user
    context = {"proposer": changes.can_propose(actor), "decider": changes.is_decider(actor)}
    if context["proposer"]:
        forms_by_kind = forms_by_kind or _forms(actor)
        context.update(
            add_form=forms_by_kind[UnitChangeKind.ADD],
            rename_form=forms_by_kind[UnitChangeKind.RENAME],
            close_form=forms_by_kind[UnitChangeKind.CLOSE],
            batch_form=batch_form or BatchForm(),
            batch_errors=batch_errors or [],
            mine=list(changes.proposals_of(actor)[:200]),
        )
    if context["decider"]:
        context.update(
            pending=list(changes.to_decide(actor)[:500]),
            history=changes.decided_below(actor),
        )
    return render(request, "accounts/unit_changes.html", context, status=status)


@scoping.manager_required
def unit_changes(request):
    return _page(request)


@require_POST
@scoping.manager_required
def unit_change_propose(request):
    actor = request.user
    kind = request.POST.get("kind", "")
    if not changes.can_propose(actor):
        messages.error(request, _("Only a county's managers propose changes to its schools."))
        return redirect("unit_changes")
    if kind not in FORMS:
        messages.error(request, _("Choose what to change."))
        return redirect("unit_changes")
    forms_by_kind = _forms(actor, request.POST, kind)
    form = forms_by_kind[kind]
    if form.is_valid():
        data = form.cleaned_data
        try:
            change = changes.propose(
                actor=actor,
                kind=kind,
                code=data.get("code", ""),
                name=data.get("name", ""),
                school_type=data.get("school_type", ""),
                reason=data.get("reason", ""),
                unit=data.get("unit"),
                ip=client_ip(request),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        else:
            messages.success(
                request,
                _("Proposal sent: %s. The level above approves or refuses it.") % _describe(change),
            )
            return redirect("unit_changes")
    return _page(request, forms_by_kind=forms_by_kind, status=400)


def _describe(change) -> str:
    if change.kind == UnitChangeKind.ADD:
        return _("add %(name)s (%(code)s)") % {"name": change.name, "code": change.code}
    if change.kind == UnitChangeKind.RENAME:
        return _("rename %(old)s to %(new)s") % {"old": change.old_name, "new": change.name}
    return _("close %s") % change.old_name


@require_POST
@scoping.manager_required
def unit_change_batch(request):
    actor = request.user
    if not changes.can_propose(actor):
        messages.error(request, _("Only a county's managers propose changes to its schools."))
        return redirect("unit_changes")
    form = BatchForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, batch_form=form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > MAX_WORKBOOK_BYTES:
        form.add_error("file", _("The workbook is larger than 2 MB."))
        return _page(request, batch_form=form, status=400)
    try:
        result = changes.propose_batch(actor=actor, content=upload.read(), ip=client_ip(request))
    except ValidationError as exc:
        form.add_error("file", exc.messages)
        return _page(request, batch_form=form, status=400)
    if result.errors:
        form.add_error(
            None,
            _("Nothing was sent: %d problems in the workbook, listed below.") % len(result.errors),
        )
        return _page(request, batch_form=form, batch_errors=result.errors, status=400)
    messages.success(request, _("%d proposals sent for approval.") % len(result.changes))
    return redirect("unit_changes")


@scoping.manager_required
def unit_change_template(request):
    response = HttpResponse(
        changes.template_workbook(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = (
        "attachment; filename*=UTF-8''%E5%AD%A6%E6%A0%A1%E5%8F%98%E6%9B%B4.xlsx"
    )
    return response


def _change_id(request) -> int | None:
    raw = request.POST.get("change", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


@require_POST
@scoping.manager_required
def unit_change_withdraw(request):
    change_id = _change_id(request)
    try:
        if change_id is None:
            raise PermissionDenied
        changes.withdraw(actor=request.user, change_id=change_id, ip=client_ip(request))
    except PermissionDenied:
        messages.error(request, _("This proposal is not your county's."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The proposal is withdrawn."))
    return redirect("unit_changes")


@require_POST
@scoping.manager_required
def unit_change_decide(request):
    change_id = _change_id(request)
    decision = request.POST.get("decision", "")
    try:
        if change_id is None:
            raise PermissionDenied
        if decision not in ("approve", "refuse"):
            raise ValidationError(_("Choose to approve or refuse."))
        change = changes.decide(
            actor=request.user,
            change_id=change_id,
            approve=decision == "approve",
            reason=request.POST.get("reason", ""),
            ip=client_ip(request),
        )
    except PermissionDenied:
        messages.error(
            request, _("Only managers of the level above the proposing county decide this.")
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if decision == "approve":
            messages.success(request, _("Approved: %s.") % _describe(change))
        else:
            messages.success(request, _("Refused: %s.") % _describe(change))
    return redirect("unit_changes")
