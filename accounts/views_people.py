"""Pages of issue 15, task E: the self-service profile, the register of roll
administrators (学籍管理员备案表) and its Excel export, moving an account to another
unit, and the help pages (使用说明) per role. Thin: each parses the request and calls
accounts.services / accounts.register."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts import jobs as account_jobs
from accounts import register, scoping, selectors, services
from accounts.forms import MoveForm, ProfileForm, RegisterFilterForm
from accounts.models import Level, Role
from core.http import client_ip

REGISTER_PAGE_SIZE = 50
CHANGES_PAGE_SIZE = 50


@scoping.login_and_unit_required
def profile(request):
    user = request.user
    form = ProfileForm(
        request.POST or None, initial={"full_name": user.full_name, "phone": user.phone}
    )
    if request.method == "POST" and form.is_valid():
        before = (user.full_name, user.phone)
        try:
            services.profile_update(
                account=user,
                full_name=form.cleaned_data["full_name"],
                phone=form.cleaned_data["phone"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if (user.full_name, user.phone) != before:
                messages.success(request, _("Your name and phone are saved."))
            else:
                messages.info(request, _("Nothing changed."))
            return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form, "unit": user.unit})


def _register_params(request):
    """The register's unit (404 outside the actor's reach), scope and date, and the form."""
    form = RegisterFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    code = (data.get("unit") or "").strip() or request.user.unit.code
    if not form.is_bound:
        form = RegisterFilterForm(initial={"unit": code})
    unit = selectors.unit_visible_or_404(actor=request.user, code=code)
    if not register.can_view_register(request.user, unit):
        raise Http404
    subtree = data.get("scope") != "unit"
    return form, unit, subtree, data.get("since")


@scoping.manager_required
def account_register(request):
    form, unit, subtree, since = _register_params(request)
    accounts = register.register_accounts(actor=request.user, unit=unit, subtree=subtree)
    page = Paginator(accounts, REGISTER_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(register.register_rows(page.object_list))
    changes = None
    if since is not None:
        events = register.register_changes(
            actor=request.user, unit=unit, since=since, subtree=subtree
        )
        changes = Paginator(events, CHANGES_PAGE_SIZE).get_page(request.GET.get("cpage"))
        changes.rows = [
            {"event": e, "label": register.change_label(e), "text": register.change_text(e)}
            for e in changes.object_list
        ]
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("cpage", None)
    return render(
        request,
        "accounts/register.html",
        {
            "form": form,
            "unit": unit,
            "subtree": subtree,
            "since": since,
            "page": page,
            "rows": rows,
            "changes": changes,
            "query": query.urlencode(),
        },
    )


@scoping.manager_required
def account_register_export(request):
    _form, unit, subtree, since = _register_params(request)
    # A large register is written by a worker, with a progress bar (core/jobs.py).
    accounts = register.register_accounts(actor=request.user, unit=unit, subtree=subtree)
    if accounts.count() > account_jobs.inline_limit():
        job = account_jobs.start_register_export(
            owner=request.user, unit=unit, subtree=subtree, since=since, ip=client_ip(request)
        )
        return redirect("job_detail", pk=job.pk)
    out, _rows = register.register_export(
        actor=request.user, unit=unit, subtree=subtree, since=since, ip=client_ip(request)
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    response = FileResponse(
        out,
        as_attachment=True,
        filename=f"register-{unit.code}-{stamp}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Cache-Control"] = "no-store"
    return response


@scoping.manager_required
def account_move(request, pk):
    account = selectors.account_manageable_or_404(actor=request.user, pk=pk)
    form = MoveForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_move(
                actor=request.user,
                account=account,
                unit=form.cleaned_data["unit"],
                ip=client_ip(request),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, exc.messages)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("%(user)s now belongs to %(unit)s.")
                % {"user": account.username, "unit": account.unit.name},
            )
            return redirect(f"{reverse('account_list')}?unit={account.unit.code}")
    return render(request, "accounts/move.html", {"account": account, "form": form})


# --- help (使用说明) ---------------------------------------------------------------------

# Each page: its sections, in order (templates/help/<language>/<section>.html).
HELP_PAGES = {
    "school-staff": [
        "first_login",
        "profile",
        "notices_read",
        "print_notice",
        "problem_records",
        "tickets_raise",
        "chat",
    ],
    "school-manager": [
        "first_login",
        "profile",
        "notices_read",
        "print_notice",
        "problem_records",
        "tickets_raise",
        "chat",
        "accounts_issue",
        "register",
    ],
    "region-manager": [
        "first_login",
        "profile",
        "notices_read",
        "notices_send",
        "print_notice",
        "accounts_issue",
        "unit_changes",
        "register",
        "problem_records_oversee",
        "tickets_raise",
        "chat",
    ],
    "region-staff": [
        "first_login",
        "profile",
        "notices_read",
        "print_notice",
        "tickets_raise",
        "chat",
    ],
    "ministry": [
        "first_login",
        "profile",
        "notices_send",
        "notices_read",
        "print_notice",
        "accounts_issue",
        "register",
        "problem_records_oversee",
        "tickets_work",
        "chat",
    ],
    "engineer": [
        "first_login",
        "profile",
        "tickets_work",
        "tickets_raise",
        "chat",
    ],
}
HELP_LANGUAGES = ("zh-hans", "en")


def help_titles() -> dict[str, str]:
    return {
        "school-staff": _("School staff"),
        "school-manager": _("School manager"),
        "region-manager": _("County, prefecture and province managers"),
        "region-staff": _("County, prefecture and province staff"),
        "ministry": _("Ministry"),
        "engineer": _("Support engineer"),
    }


def help_section_titles() -> dict[str, str]:
    return {
        "first_login": _("First login with the initial code"),
        "profile": _("Your name, phone and password"),
        "notices_read": _("Reading and acknowledging circulars"),
        "notices_send": _("Publishing, forwarding and chasing circulars"),
        "print_notice": _("Printing a circular"),
        "problem_records": _("Problem records of your school"),
        "problem_records_oversee": _("Overseeing problem records"),
        "tickets_raise": _("Raising a ticket"),
        "tickets_work": _("Working the support queue"),
        "chat": _("Chat"),
        "accounts_issue": _("Issuing and looking after accounts"),
        "unit_changes": _("Adding, renaming and closing schools"),
        "register": _("The register of roll administrators"),
    }


def help_page_for(account) -> str:
    """The page a person's own role opens by default."""
    if account.is_support_engineer:
        return "engineer"
    level = account.unit.level
    if level == Level.MINISTRY:
        return "ministry"
    manager = account.role == Role.MANAGER
    if level == Level.SCHOOL:
        return "school-manager" if manager else "school-staff"
    return "region-manager" if manager else "region-staff"


@scoping.login_and_unit_required
def help_index(request):
    own = help_page_for(request.user)
    key = request.GET.get("for") or own
    if key not in HELP_PAGES:
        key = own
    language = get_language() if get_language() in HELP_LANGUAGES else HELP_LANGUAGES[0]
    sections = [
        select_template([f"help/{language}/{name}.html", f"help/zh-hans/{name}.html"])
        for name in HELP_PAGES[key]
    ]
    titles = help_titles()
    section_titles = help_section_titles()
    return render(
        request,
        "help/index.html",
        {
            "current": key,
            "own": own,
            "title": titles[key],
            "tabs": [(k, titles[k]) for k in HELP_PAGES],
            "sections": [
                (name, section_titles[name], t.template.name)
                for name, t in zip(HELP_PAGES[key], sections, strict=True)
            ],
        },
    )
