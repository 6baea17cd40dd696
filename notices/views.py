"""Notice pages. Each view states its permission with an `accounts.scoping` decorator
and checks the notice through `notices.selectors`; writes go through `notices.services`."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import scoping
from accounts import selectors as accounts_selectors
from core.http import client_ip, private_download, spooled_download
from core.openapi import PAGE_REFUSALS, SESSION, declare
from notices import diffs, exports, selectors, services
from notices.forms import (
    AckForm,
    CorrectForm,
    ForwardForm,
    NoticeForm,
    NumberingForm,
    ReminderForm,
    WithdrawForm,
)
from notices.models import Notice, Status

PAGE_SIZE = 30


def _form_errors(form, exc: ValidationError) -> None:
    for message in exc.messages:
        form.add_error(None, message)


@scoping.login_and_unit_required
def inbox(request):
    flt = request.GET.get("filter", "")
    flt = flt if flt in selectors.INBOX_FILTERS else ""
    q = request.GET.get("q", "").strip()[:100]
    page = Paginator(selectors.inbox(account=request.user, flt=flt, q=q), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notices/inbox.html",
        {"page": page, "flt": flt, "q": q, "now": timezone.now(), "filters": _filter_labels()},
    )


def _filter_labels():
    return [
        ("", _("All")),
        ("unread", _("Unread")),
        ("ack", _("Needs acknowledgement")),
        ("urgent", _("Urgent")),
        ("overdue", _("Overdue")),
    ]


@declare(
    "GET",
    summary="The header badge's figure: notices this account has not read",
    security=SESSION,
    responses={
        200: {
            "type": "object",
            "required": ["unread"],
            "properties": {"unread": {"type": "integer", "minimum": 0}},
        },
        **PAGE_REFUSALS,
    },
    tags=("pages",),
)
@scoping.login_and_unit_required
def unread_count(request):
    return JsonResponse({"unread": selectors.unread_count(request.user)})


@scoping.manager_required
def sent(request):
    page = Paginator(selectors.sent(account=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "notices/sent.html", {"page": page})


@scoping.manager_required
def compose(request, pk=None):
    notice = None
    if pk is not None:
        notice = Notice.objects.filter(pk=pk).first()
        if notice is None or not selectors.can_edit(request.user, notice):
            raise Http404
    if request.method == "POST":
        form = NoticeForm(request.POST, request.FILES, actor=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                notice = services.notice_save(
                    actor=request.user,
                    notice=notice,
                    title=data["title"],
                    body=data["body"],
                    priority=data["priority"],
                    requires_ack=data["requires_ack"],
                    ack_deadline=data["ack_deadline"],
                    publish_at=data["publish_at"],
                    target_codes=data["target_codes"],
                    levels=data["levels"],
                    managers_only=data["managers_only"],
                    files=data["files"],
                    main_recipients=data["main_recipients"],
                    issuer_line=data["issuer_line"],
                    signed_on=data["signed_on"],
                )
                if request.POST.get("action") == "publish":
                    notice = services.notice_publish(actor=request.user, notice=notice)
                    if notice.status == Status.SCHEDULED:
                        messages.success(request, _("The notice is scheduled."))
                    else:
                        messages.success(request, _("The notice is published."))
                    return redirect("notice_detail", pk=notice.pk)
                messages.success(request, _("The draft is saved."))
                return redirect("notice_edit", pk=notice.pk)
            except ValidationError as exc:
                _form_errors(form, exc)
    elif notice is not None:
        form = NoticeForm(
            actor=request.user,
            initial={
                "title": notice.title,
                "body": notice.body,
                "priority": notice.priority,
                "requires_ack": notice.requires_ack,
                "ack_deadline": notice.ack_deadline and timezone.localtime(notice.ack_deadline),
                "publish_at": notice.publish_at and timezone.localtime(notice.publish_at),
                "target_codes": " ".join(
                    t.unit.code for t in notice.targets.select_related("unit")
                ),
                "levels": notice.level_list,
                "managers_only": notice.managers_only,
                "main_recipients": notice.main_recipients,
                "issuer_line": notice.issuer_line,
                "signed_on": notice.signed_on,
            },
        )
    else:
        form = NoticeForm(
            actor=request.user,
            initial={
                "target_codes": request.user.unit.code,
                "levels": _default_levels(request.user),
            },
        )
    _formal_placeholders(form, request.user)
    return render(request, "notices/compose.html", {"form": form, "notice": notice})


def _formal_placeholders(form, account) -> None:
    """Show the 落款 a publish would fill in when the field is left empty."""
    rule = selectors.numbering_rule(account.unit)
    form.fields["issuer_line"].widget.attrs["placeholder"] = selectors.default_issuer_line(
        account.unit, rule
    )


def _default_levels(account) -> list[str]:
    from accounts.models import LEVEL_ORDER

    below = LEVEL_ORDER[LEVEL_ORDER.index(account.unit.level) + 1 :]
    return [lv.value for lv in below[:1]]


@require_POST
@scoping.manager_required
def publish(request, pk):
    notice = Notice.objects.filter(pk=pk).first()
    if notice is None or not selectors.can_edit(request.user, notice):
        raise Http404
    notice = services.notice_publish(actor=request.user, notice=notice)
    messages.success(
        request,
        _("The notice is scheduled.")
        if notice.status == Status.SCHEDULED
        else _("The notice is published."),
    )
    return redirect("notice_detail", pk=notice.pk)


@require_POST
@scoping.manager_required
def attachment_delete(request, pk, attachment_pk):
    notice = Notice.objects.filter(pk=pk).first()
    if notice is None or not selectors.can_edit(request.user, notice):
        raise Http404
    attachment = notice.attachments.filter(pk=attachment_pk).first()
    if attachment is None:
        raise Http404
    services.attachment_delete(actor=request.user, attachment=attachment)
    return redirect("notice_edit", pk=notice.pk)


@scoping.login_and_unit_required
def detail(request, pk):
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    receipt = services.notice_mark_read(account=request.user, notice=notice)
    return render(
        request,
        "notices/detail.html",
        {
            "notice": notice,
            "receipt": receipt,
            "recipient": selectors.reaches(notice, request.user),
            "attachments": notice.source.attachments.all(),
            "chain": selectors.forward_chain(notice),
            "formal": selectors.formal_lines(notice),
            "can_forward": selectors.can_forward(request.user, notice),
            "can_stats": selectors.can_view_stats(request.user, notice),
            "can_edit": selectors.can_edit(request.user, notice),
            "can_withdraw": selectors.can_withdraw(request.user, notice),
            "can_correct": selectors.can_correct(request.user, notice),
            "newer": selectors.latest_version(notice) if notice.superseded_at else None,
            "changes": _changes(notice),
            "ack_form": AckForm(),
            "now": timezone.now(),
        },
    )


def _changes(notice):
    """A correction's title and body against the version it corrects (escaped, <ins>/<del>)."""
    previous = notice.corrects
    if previous is None:
        return None
    return {
        "previous": previous,
        "title": diffs.diff_html(previous.title, notice.title)
        if previous.title != notice.title
        else None,
        "body": diffs.diff_html(previous.body, notice.body)
        if previous.body != notice.body
        else None,
    }


@require_POST
@scoping.login_and_unit_required
def acknowledge(request, pk):
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    form = AckForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.notice_acknowledge(
                account=request.user,
                notice=notice,
                reply=form.cleaned_data["reply"],
                files=form.cleaned_data["files"],
            )
            messages.success(request, _("Acknowledged."))
            return redirect("notice_detail", pk=notice.pk)
        except (ValidationError, PermissionDenied) as exc:
            for message in getattr(exc, "messages", [str(exc)]):
                messages.error(request, message)
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    return redirect("notice_detail", pk=notice.pk)


@scoping.manager_required
def forward(request, pk):
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    if not selectors.can_forward(request.user, notice):
        raise PermissionDenied
    form = ForwardForm(
        request.POST or None,
        actor=request.user,
        initial={"target_codes": request.user.unit.code, "levels": _default_levels(request.user)},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            forwarded = services.notice_forward(
                actor=request.user,
                notice=notice,
                target_codes=data["target_codes"],
                levels=data["levels"],
                managers_only=data["managers_only"],
                note=data["note"],
                main_recipients=data["main_recipients"],
                issuer_line=data["issuer_line"],
                signed_on=data["signed_on"],
            )
            messages.success(request, _("The notice is forwarded."))
            return redirect("notice_detail", pk=forwarded.pk)
        except ValidationError as exc:
            _form_errors(form, exc)
    _formal_placeholders(form, request.user)
    return render(request, "notices/forward.html", {"notice": notice, "form": form})


def _stats_context(request, pk):
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    if not selectors.can_view_stats(request.user, notice):
        raise PermissionDenied
    unit = selectors.stats_unit_or_404(
        account=request.user, notice=notice, code=request.GET.get("unit")
    )
    return notice, unit


def _page_param(request, name: str) -> int:
    value = request.GET.get(name, "")
    return int(value) or 1 if value.isascii() and value.isdigit() and len(value) < 7 else 1


def _lag_lists(request, *, notice, unit, mode, total) -> dict:
    """The drill-down's three lists, each paged on its own (lag_units_page, …): units
    behind, people behind, and units with nobody to read yet."""
    behind, unstaffed = selectors.lag_counts(notice=notice, unit=unit, mode=mode)
    n_units, n_people, n_unstaffed = (
        _page_param(request, f"{key}_page") for key in ("lag_units", "lag_people", "lag_unstaffed")
    )
    units, more_units = selectors.lagging_units(notice=notice, unit=unit, mode=mode, page=n_units)
    people, more_people = selectors.lagging_people(
        notice=notice, unit=unit, mode=mode, page=n_people
    )
    unstaffed_units, more_unstaffed = selectors.unstaffed_units(
        notice=notice, unit=unit, page=n_unstaffed
    )
    page = selectors.LagPage
    return {
        "lag_units": page(units, behind, n_units, more_units),
        "lag_people": page(
            people, total.unacked if mode == "unacked" else total.unread, n_people, more_people
        ),
        "lag_unstaffed": page(unstaffed_units, unstaffed, n_unstaffed, more_unstaffed),
    }


@scoping.login_and_unit_required
def stats(request, pk):
    notice, unit = _stats_context(request, pk)
    total, rows = selectors.stats(notice=notice, unit=unit)
    mode = "unacked" if request.GET.get("show") == "unacked" and notice.requires_ack else "unread"
    lag = _lag_lists(request, notice=notice, unit=unit, mode=mode, total=total)
    root = selectors.stats_root(account=request.user, notice=notice)
    trail = accounts_selectors.unit_trail(unit=unit, top=root)
    return render(
        request,
        "notices/stats.html",
        {
            "notice": notice,
            "unit": unit,
            "trail": trail,
            "total": total,
            "rows": rows,
            "mode": mode,
            **lag,
            "reminders": notice.reminders.select_related("sent_by").order_by("-created_at")[:5],
        },
    )


@scoping.login_and_unit_required
def replies(request, pk):
    notice, unit = _stats_context(request, pk)
    page = Paginator(selectors.replies(notice=notice, unit=unit), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "notices/replies.html", {"notice": notice, "unit": unit, "page": page})


@scoping.login_and_unit_required
def export(request, pk):
    notice, unit = _stats_context(request, pk)
    content = exports.stats_workbook(notice=notice, unit=unit)
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="notice-{notice.pk}-{unit.code}.xlsx"'
    return response


@scoping.login_and_unit_required
def replies_zip(request, pk):
    """All acknowledgement files (under the statistics' unit) as one zip."""
    notice, unit = _stats_context(request, pk)
    try:
        spool = exports.receipt_files_zip(notice=notice, unit=unit)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(f"{reverse('notice_replies', args=[notice.pk])}?unit={unit.code}")
    return spooled_download(
        request,
        spool,
        filename=f"回执附件-{notice.pk}-{unit.code}.zip",
        content_type="application/zip",
    )


@scoping.login_and_unit_required
def print_view(request, pk):
    """The circular in its formal layout, for printing (static/js/notice_print.js)."""
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    services.notice_mark_read(account=request.user, notice=notice)
    return render(
        request,
        "notices/print.html",
        {
            "notice": notice,
            "formal": selectors.formal_lines(notice),
            "attachments": notice.source.attachments.all(),
        },
    )


@scoping.manager_required
def numbering(request):
    """The document numbering rule of the manager's own unit."""
    unit = request.user.unit
    rule = selectors.numbering_rule(unit)
    form = NumberingForm(
        request.POST or None,
        initial={"prefix": rule.prefix, "pattern": rule.pattern, "issuer_line": rule.issuer_line}
        if rule
        else {"pattern": selectors.DEFAULT_DOC_PATTERN},
    )
    form.fields["issuer_line"].widget.attrs["placeholder"] = unit.name
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            if services.numbering_rule_delete(actor=request.user, ip=client_ip(request)):
                messages.success(
                    request, _("Numbering is turned off; the numbers already given stay.")
                )
            return redirect("notice_numbering")
        if form.is_valid():
            try:
                services.numbering_rule_save(
                    actor=request.user, ip=client_ip(request), **form.cleaned_data
                )
                messages.success(request, _("The numbering rule is saved."))
                return redirect("notice_numbering")
            except ValidationError as exc:
                _form_errors(form, exc)
    return render(
        request,
        "notices/numbering.html",
        {
            "form": form,
            "rule": rule,
            "unit": unit,
            "next_number": selectors.next_doc_number(unit, rule),
            "recent": selectors.numbered_notices(unit)[:10],
        },
    )


@require_POST
@scoping.login_and_unit_required
def remind(request, pk):
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    form = ReminderForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown reminder."))
    else:
        try:
            services.notice_remind(
                actor=request.user, notice=notice, mode=form.cleaned_data["mode"]
            )
            messages.success(request, _("The reminder is sent to those who have not done it yet."))
        except (ValidationError, PermissionDenied) as exc:
            for message in getattr(exc, "messages", [str(exc)]):
                messages.error(request, message)
    return redirect("notice_stats", pk=notice.pk)


@scoping.login_and_unit_required
def attachment(request, pk, attachment_pk):
    item = selectors.attachment_readable_or_404(
        account=request.user, notice_pk=pk, pk=attachment_pk
    )
    return private_download(item)


def _issuer_notice(request, pk, allowed):
    """The notice named in the URL, for its issuer (author, managers of its unit): others
    who may read it get 403, the rest 404. Withdrawn or superseded: back to its page."""
    notice = selectors.notice_readable_or_404(account=request.user, pk=pk)
    if notice.status != Status.PUBLISHED or not selectors.is_issuer(request.user, notice):
        raise PermissionDenied
    return notice, allowed(request.user, notice)


@scoping.login_and_unit_required
def withdraw(request, pk):
    """撤回: a confirmation page with the reason; recipients keep seeing it, marked."""
    notice, allowed = _issuer_notice(request, pk, selectors.can_withdraw)
    if not allowed:
        messages.error(request, selectors.withdraw_refusal(notice) or _("Not possible."))
        return redirect("notice_detail", pk=notice.pk)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.notice_withdraw(
                actor=request.user, notice=notice, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("The notice is withdrawn."))
            return redirect("notice_detail", pk=notice.pk)
        except ValidationError as exc:
            _form_errors(form, exc)
    return render(request, "notices/withdraw.html", {"notice": notice, "form": form})


@scoping.login_and_unit_required
def correct(request, pk):
    """更正: a new version to the same audience, with a note on what changed."""
    notice, allowed = _issuer_notice(request, pk, selectors.can_correct)
    if not allowed:
        messages.error(
            request,
            selectors.withdraw_refusal(notice)
            or _("A forwarding is not corrected: the original's issuer corrects it."),
        )
        return redirect("notice_detail", pk=notice.pk)
    if request.method == "POST":
        form = CorrectForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                new = services.notice_correct(
                    actor=request.user,
                    notice=notice,
                    title=data["title"],
                    body=data["body"],
                    note=data["note"],
                    requires_ack=data["requires_ack"],
                    ack_deadline=data["ack_deadline"],
                    files=data["files"],
                    replace_files=data["replace_files"],
                )
                messages.success(request, _("The correction is published."))
                return redirect("notice_detail", pk=new.pk)
            except ValidationError as exc:
                _form_errors(form, exc)
    else:
        form = CorrectForm(
            initial={
                "title": notice.title,
                "body": notice.body,
                "requires_ack": notice.requires_ack,
                "ack_deadline": notice.ack_deadline and timezone.localtime(notice.ack_deadline),
            }
        )
    return render(
        request,
        "notices/correct.html",
        {"notice": notice, "form": form, "attachments": notice.attachments.all()},
    )
