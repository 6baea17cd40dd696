from django.urls import path

from dashboards import views

urlpatterns = [
    path("", views.index, name="dashboards"),
    path("read-rate/", views.read_rate, name="dashboard_read_rate"),
    path("read-rate.xlsx", views.read_rate_export, name="dashboard_read_rate_export"),
    path("tickets/", views.tickets, name="dashboard_tickets"),
    path("tickets.xlsx", views.tickets_export, name="dashboard_tickets_export"),
    path("records/", views.records, name="dashboard_records"),
    path("records.xlsx", views.records_export, name="dashboard_records_export"),
    path("map/", views.china_map, name="dashboard_map"),
    path("map.xlsx", views.china_map_export, name="dashboard_map_export"),
]
