from django.urls import path

from escalation import views

urlpatterns = [
    path("roster/", views.roster, name="support_roster"),
    path("roster/<int:pk>/", views.engineer, name="support_engineer"),
    path("roster/<int:pk>/duty/", views.duty, name="support_duty"),
    path("settings/", views.settings_page, name="support_settings"),
    path("settings/tiers/", views.tiers, name="support_tiers"),
]
