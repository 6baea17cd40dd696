"""The pages of long jobs (core/jobs.py): my jobs, one job's progress (persisted state,
then live through the socket, static/js/jobs.js), and its result file — its owner's
alone: anyone else's job is a 404."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import render

from core import jobs


def _account_required(view):
    """A logged-in, active account bound to a unit (accounts.scoping's
    login_and_unit_required, which core may not import)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_active or getattr(user, "unit_id", None) is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.permission = "account"
    return wrapper


def _own_or_404(request, pk):
    job = jobs.owned(request.user, pk)
    if job is None:
        raise Http404
    return job


@_account_required
def job_list(request):
    rows = [(job, jobs.state(job)) for job in jobs.mine(request.user)]
    return render(request, "core/jobs/list.html", {"rows": rows})


@_account_required
def job_detail(request, pk):
    job = _own_or_404(request, pk)
    # ?partial=1: the bar alone, which static/js/jobs.js re-reads when its socket opens
    # (a step pushed between this page's render and the socket's start is not lost).
    template = "core/jobs/_bar.html" if request.GET.get("partial") else "core/jobs/detail.html"
    return render(request, template, {"job": job, "state": jobs.state(job)})


@_account_required
def job_result(request, pk):
    job = _own_or_404(request, pk)
    if job.status != job.Status.DONE or not job.result:
        raise Http404
    try:
        handle = job.result.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=job.result_name or "result",
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
