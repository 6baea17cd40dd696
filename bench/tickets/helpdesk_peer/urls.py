"""The package's own URLs under /helpdesk/, as its install guide mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("helpdesk/", include("helpdesk.urls")),
]
