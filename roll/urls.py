from django.urls import path

from roll import views

urlpatterns = [
    path("", views.index, name="roll_index"),
    path("units/<str:code>/", views.unit_view, name="roll_unit"),
    path("records/", views.update, name="roll_update"),
    path("records/<int:pk>/reveal/", views.reveal, name="roll_reveal"),
    path("open.xlsx", views.export, name="roll_export"),
    path("keys/", views.keys, name="roll_keys"),
    path("keys/<int:pk>/revoke/", views.key_revoke, name="roll_key_revoke"),
]
