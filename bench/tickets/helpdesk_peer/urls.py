"""The package's own URLs under /helpdesk/, as its install guide mounts them, and a
/readyz answering 200 for the balancer's check (scripts/shape.py) when the peer runs
as several processes behind HAProxy."""

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("helpdesk/", include("helpdesk.urls")),
    path("readyz", lambda request: HttpResponse("ok")),
]
