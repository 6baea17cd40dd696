from django.urls import path

from reports import views

urlpatterns = [
    path("weekly/", views.weekly, name="weekly_report"),
    path("weekly.xlsx", views.weekly_xlsx, name="weekly_report_xlsx"),
]
