from captcha import views as captcha
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from accounts import import_views as school_import
from accounts import picker
from accounts import unit_change_views as school_changes
from accounts import views as accounts
from accounts import views_people as people
from core import error_views
from core import job_views as jobs
from core import metrics as core_metrics
from core import views as core
from roll import api as roll_api

# The platform's own error pages, HTML or JSON by path (core/errors.py).
handler400 = error_views.bad_request
handler403 = error_views.permission_denied
handler404 = error_views.page_not_found
handler500 = error_views.server_error

urlpatterns = [
    path("", accounts.home, name="home"),
    path("password/first/", accounts.password_first, name="password_first"),
    path("units/", accounts.my_unit, name="my_unit"),
    path("units/<str:code>/", accounts.unit_detail, name="unit_detail"),
    # The unit picker's JSON (static/js/unit_picker.js), beside units/<str:code>/.
    path("unit-picker/search.json", picker.search, name="unit_picker_search"),
    path("unit-picker/children.json", picker.children, name="unit_picker_children"),
    path("unit-picker/units.json", picker.units, name="unit_picker_units"),
    path("people/", accounts.account_list, name="account_list"),
    path("people/issue/", accounts.issue, name="account_issue"),
    path("people/batches/<int:pk>/", accounts.batch_detail, name="issue_batch"),
    path("people/batches/<int:pk>/sheet.xlsx", accounts.batch_sheet, name="issue_batch_sheet"),
    path("people/<int:pk>/reissue/", accounts.account_reissue, name="account_reissue"),
    path("people/<int:pk>/disable/", accounts.account_disable, name="account_disable"),
    path("people/<int:pk>/enable/", accounts.account_enable, name="account_enable"),
    path("people/<int:pk>/hand-over/", accounts.account_hand_over, name="account_hand_over"),
    path("audit/", accounts.audit_log, name="audit_log"),
    # Profile, register of roll administrators, moves, help (issue 15, task E)
    path("profile/", people.profile, name="profile"),
    path("people/register/", people.account_register, name="account_register"),
    path("people/register.xlsx", people.account_register_export, name="account_register_export"),
    path("people/<int:pk>/move/", people.account_move, name="account_move"),
    path("help/", people.help_index, name="help"),
    # The school import as a long job (issue 16, F5: accounts/import_views.py)
    path("schools/import/", school_import.school_import, name="school_import"),
    # School changes (issue 15, item 6: accounts/unit_change_views.py)
    path("school-changes/", school_changes.unit_changes, name="unit_changes"),
    path(
        "school-changes/propose/",
        school_changes.unit_change_propose,
        name="unit_change_propose",
    ),
    path("school-changes/batch/", school_changes.unit_change_batch, name="unit_change_batch"),
    path(
        "school-changes/template.xlsx",
        school_changes.unit_change_template,
        name="unit_change_template",
    ),
    path(
        "school-changes/withdraw/",
        school_changes.unit_change_withdraw,
        name="unit_change_withdraw",
    ),
    path("school-changes/decide/", school_changes.unit_change_decide, name="unit_change_decide"),
    path("notices/", include("notices.urls")),
    path("chat/", include("chat.urls")),
    path("tickets/", include("tickets.urls")),
    path("support/", include("escalation.urls")),
    path("roll/", include("roll.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("reports/", include("reports.urls")),
    path("kb/", include("kb.urls")),
    # Long jobs (issue 16, item 5: core/jobs.py): the owner's own only
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/result/", jobs.job_result, name="job_result"),
    path("api/openapi.json", core.openapi_document, name="openapi"),
    path("api/roll/v1/alerts", roll_api.alerts, name="roll_api_alerts"),
    path("api/roll/v1/alerts/close", roll_api.close, name="roll_api_close"),
    re_path(r"^api/(?P<rest>.*)$", roll_api.not_found),
    path("auth/", include("allauth.urls")),
    # The login form's CAPTCHA image (accounts/forms.py); no refresh or audio views.
    re_path(
        r"^captcha/image/(?P<key>\w+)/$", captcha.captcha_image, {"scale": 1}, name="captcha-image"
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", core.healthz, name="healthz"),
    path("readyz", core.readyz, name="readyz"),
    # Prometheus (core/metrics.py): a bearer token or an internal address.
    path("metrics", core_metrics.endpoint, name="metrics"),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]

# allauth's own 429 (its rate limits on password reset and the like): the platform's
# page or JSON with the time to wait and Retry-After.
handler429 = "accounts.adapters.rate_limited"
