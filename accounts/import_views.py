"""The school import as a page (issue 16, F5): a Ministry or province manager uploads
the workbook (school code, name, county code); the rows are read here, and a worker
imports them as a long job (accounts/jobs.py) whose page shows the progress and the
outcome — every bad row with its reason, and then nothing written."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import jobs, scoping, sheets
from accounts.models import Level

MAX_BYTES = 10 * 2**20
MAX_ROWS = 100_000


class SchoolImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Workbook"),
        help_text=gettext_lazy(
            "An .xlsx or .csv file with the columns 学校代码, 学校名称, 区县代码 (school code, name, county code)."
        ),
    )


def can_import_schools(actor) -> bool:
    return scoping.is_manager(actor) and actor.unit.level in (Level.MINISTRY, Level.PROVINCE)


@scoping.manager_required
def school_import(request):
    if not can_import_schools(request.user):
        raise PermissionDenied
    form = SchoolImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            form.add_error("file", _("The file is larger than 10 MB."))
        else:
            try:
                rows = sheets.school_rows(upload.read(), upload.name)
            except sheets.SheetError as exc:
                form.add_error("file", str(exc))
            else:
                if not rows:
                    form.add_error("file", _("The file has no rows."))
                elif len(rows) > MAX_ROWS:
                    form.add_error("file", _("At most %d rows at a time.") % MAX_ROWS)
                else:
                    job = jobs.start_import_schools(
                        owner=request.user, rows=rows, file_name=upload.name[:100]
                    )
                    return redirect("job_detail", pk=job.pk)
    status = 400 if form.is_bound else 200
    return render(request, "accounts/school_import.html", {"form": form}, status=status)
