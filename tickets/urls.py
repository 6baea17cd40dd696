from django.urls import path

from tickets import views

urlpatterns = [
    path("", views.mine, name="ticket_mine"),
    path("new/", views.new, name="ticket_new"),
    path("queue/", views.queue, name="ticket_queue"),
    path("queue/count/", views.queue_count, name="ticket_queue_count"),
    path("tier/", views.tier, name="ticket_tier"),
    path("all/", views.all_tickets, name="ticket_all"),
    path("all.xlsx", views.export, name="ticket_export"),
    path("dashboard/", views.dashboard, name="ticket_dashboard"),
    path("canned/", views.canned, name="ticket_canned"),
    path("<int:pk>/", views.detail, name="ticket_detail"),
    path("<int:pk>/reply/", views.reply, name="ticket_reply"),
    path("<int:pk>/act/", views.act, name="ticket_act"),
    path("<int:pk>/rate/", views.rate, name="ticket_rate"),
    path("<int:pk>/assign/", views.assign, name="ticket_assign"),
    path("<int:pk>/escalate/", views.escalate, name="ticket_escalate"),
    path("<int:pk>/send-back/", views.send_back, name="ticket_send_back"),
    path("<int:pk>/files/<int:file_pk>/", views.attachment, name="ticket_file"),
]
