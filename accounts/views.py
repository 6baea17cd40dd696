"""Pages for the unit tree and account issuance. Each view states its permission
with a decorator from `accounts.scoping`, parses the request and calls one service."""

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import jobs as account_jobs
from accounts import scoping, selectors, services, sheets
from accounts.forms import FirstPasswordForm, HandOverForm, IssueBulkForm, IssueSingleForm
from accounts.models import AuditAction, Role
from core import todo
from core.http import client_ip

PAGE_SIZE = 50


@scoping.login_and_unit_required
def home(request):
    # The latest notices come from notices' own template tag (templates sit above the
    # apps; accounts sits below notices and imports none of it).
    # The to-dos come from each app's own section, registered with core.todo.
    user = request.user
    sections = todo.collect(user)
    context = {
        "unit": user.unit,
        "todo": sections[todo.Part.MINE],
        "todo_pending": todo.pending(sections[todo.Part.MINE]),
        "lag": sections[todo.Part.LAG],
    }
    if scoping.is_manager(user):
        accounts = scoping.accounts_within(user.unit)
        context.update(
            subtree_units=scoping.units_within(user.unit).count(),
            subtree_accounts=accounts.count(),
            pending_accounts=accounts.filter(is_active=True, must_change_password=True).count(),
            batches=selectors.recent_batches(actor=user, limit=5),
        )
    return render(request, "accounts/home.html", context)


def password_first(request):
    """The forced password change after logging in with an initial code."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    user = request.user
    next_url = request.GET.get("next") or request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = FirstPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_set_first(
                account=user, password=form.cleaned_data["new_password1"], ip=client_ip(request)
            )
        except ValidationError as exc:
            form.add_error("new_password1", exc)
        else:
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password is set."))
            return redirect(next_url or "home")
    return render(
        request,
        "accounts/password_first.html",
        {"form": form, "next": next_url, "forced": user.must_change_password},
    )


password_first.permission = "authenticated"


@scoping.login_and_unit_required
def my_unit(request):
    return redirect("unit_detail", code=request.user.unit.code)


@scoping.login_and_unit_required
def unit_detail(request, code):
    unit = selectors.unit_visible_or_404(actor=request.user, code=code)
    manager = scoping.can_manage_unit(request.user, unit)
    return render(
        request,
        "accounts/unit_detail.html",
        {
            "unit": unit,
            "trail": selectors.unit_trail(actor=request.user, unit=unit),
            "children": selectors.unit_children_with_counts(unit=unit),
            "own_accounts": selectors.unit_own_accounts(actor=request.user, unit=unit)
            if manager
            else [],
            "can_manage": manager,
        },
    )


@scoping.manager_required
def issue(request):
    actor = request.user
    initial = {"unit_code": request.GET.get("unit", "")}
    single = IssueSingleForm(actor=actor, initial=initial, prefix="one")
    bulk = IssueBulkForm(actor=actor, initial=initial, prefix="bulk")
    if request.method == "POST":
        mode = request.POST.get("mode")
        form = (IssueBulkForm if mode == "bulk" else IssueSingleForm)(
            request.POST, actor=actor, prefix="bulk" if mode == "bulk" else "one"
        )
        if mode == "bulk":
            bulk = form
        else:
            single = form
        if form.is_valid():
            data = form.cleaned_data
            try:
                if mode == "bulk" and not scoping.can_manage_unit(actor, data["unit"]):
                    raise PermissionDenied(_("This unit is outside your jurisdiction."))
                if (
                    mode == "bulk"
                    and services.issue_bulk_size(
                        root=data["unit"], scope=data["scope"], roles=data["roles"]
                    )
                    > account_jobs.inline_limit()
                ):
                    # A province's schools: a worker issues them, with a progress bar.
                    job = account_jobs.start_issue_bulk(
                        owner=actor,
                        root=data["unit"],
                        scope=data["scope"],
                        roles=data["roles"],
                        ip=client_ip(request),
                    )
                    return redirect("job_detail", pk=job.pk)
                if mode == "bulk":
                    result = services.accounts_issue_bulk(
                        actor=actor,
                        root=data["unit"],
                        scope=data["scope"],
                        roles=data["roles"],
                        ip=client_ip(request),
                    )
                else:
                    result = services.account_issue(
                        actor=actor,
                        unit=data["unit"],
                        role=data["role"],
                        full_name=data["full_name"],
                        phone=data["phone"],
                        username=data["username"].strip(),
                        is_support_engineer=data["is_support_engineer"],
                        ip=client_ip(request),
                    )
            except (ValidationError, PermissionDenied) as exc:
                form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
            else:
                return redirect("issue_batch", pk=result.batch.pk)
    return render(request, "accounts/issue.html", {"single": single, "bulk": bulk})


def _login_address(request) -> str:
    return services.login_address(request.build_absolute_uri(reverse("account_login")))


@scoping.manager_required
def batch_detail(request, pk):
    batch = selectors.issue_batch_own_or_404(actor=request.user, pk=pk)
    try:
        rows = services.credential_sheet_rows(actor=request.user, batch=batch)
    except services.SheetGone:
        rows = None
    context = {
        "batch": batch,
        "rows": rows,
        "login_url": _login_address(request),
        "steps": sheets.first_login_steps(),
    }
    response = render(request, "accounts/batch_detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


@scoping.manager_required
def batch_sheet(request, pk):
    batch = selectors.issue_batch_own_or_404(actor=request.user, pk=pk)
    try:
        content = services.credential_sheet_workbook(
            actor=request.user,
            batch=batch,
            ip=client_ip(request),
            login_url=_login_address(request),
        )
    except services.SheetGone:
        messages.error(
            request, _("This credential sheet has expired; re-issue codes if they are lost.")
        )
        return redirect("issue_batch", pk=batch.pk)
    stamp = timezone.localtime(batch.created_at).strftime("%Y%m%d-%H%M")
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="credentials-{batch.unit.code}-{stamp}.xlsx"'
    )
    response["Cache-Control"] = "no-store"
    return response


@scoping.manager_required
def account_list(request):
    actor = request.user
    unit = None
    if request.GET.get("unit"):
        unit = selectors.unit_visible_or_404(actor=actor, code=request.GET["unit"])
    accounts = selectors.account_list(
        actor=actor,
        q=request.GET.get("q", "").strip(),
        unit=unit,
        role=request.GET.get("role", ""),
        status=request.GET.get("status", ""),
    )
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    manageable = set(
        scoping.manageable_accounts(actor)
        .filter(pk__in=[a.pk for a in page])
        .values_list("pk", flat=True)
    )
    return render(
        request,
        "accounts/account_list.html",
        {"page": page, "manageable": manageable, "filter_unit": unit, "roles": Role.choices},
    )


@require_POST
@scoping.manager_required
def account_reissue(request, pk):
    account = selectors.account_manageable_or_404(actor=request.user, pk=pk)
    result = services.account_reissue(actor=request.user, account=account, ip=client_ip(request))
    return redirect("issue_batch", pk=result.batch.pk)


@require_POST
@scoping.manager_required
def account_disable(request, pk):
    return _set_active(request, pk, active=False)


@require_POST
@scoping.manager_required
def account_enable(request, pk):
    return _set_active(request, pk, active=True)


def _set_active(request, pk, *, active):
    account = selectors.account_manageable_or_404(actor=request.user, pk=pk)
    try:
        services.account_set_active(
            actor=request.user, account=account, active=active, ip=client_ip(request)
        )
    except ValidationError as exc:  # enabling an account of a closed unit
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            (_("%s is enabled.") if active else _("%s is disabled; its sessions are ended."))
            % account.username,
        )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("account_list")


@scoping.manager_required
def account_hand_over(request, pk):
    account = selectors.account_manageable_or_404(actor=request.user, pk=pk)
    form = HandOverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.account_hand_over(
                actor=request.user,
                account=account,
                full_name=form.cleaned_data["full_name"],
                phone=form.cleaned_data["phone"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("issue_batch", pk=result.batch.pk)
    return render(request, "accounts/hand_over.html", {"account": account, "form": form})


@scoping.manager_required
def audit_log(request):
    events = selectors.audit_log(
        actor=request.user,
        action=request.GET.get("action", ""),
        q=request.GET.get("q", "").strip(),
    )
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "accounts/audit_log.html", {"page": page, "actions": AuditAction.choices}
    )
