from django.urls import path

from notices import views

urlpatterns = [
    path("", views.inbox, name="notice_inbox"),
    path("unread.json", views.unread_count, name="notice_unread"),
    path("sent/", views.sent, name="notice_sent"),
    path("new/", views.compose, name="notice_new"),
    path("numbering/", views.numbering, name="notice_numbering"),
    path("<int:pk>/", views.detail, name="notice_detail"),
    path("<int:pk>/edit/", views.compose, name="notice_edit"),
    path("<int:pk>/publish/", views.publish, name="notice_publish"),
    path("<int:pk>/ack/", views.acknowledge, name="notice_ack"),
    path("<int:pk>/forward/", views.forward, name="notice_forward"),
    path("<int:pk>/stats/", views.stats, name="notice_stats"),
    path("<int:pk>/stats.xlsx", views.export, name="notice_export"),
    path("<int:pk>/replies/", views.replies, name="notice_replies"),
    path("<int:pk>/replies.zip", views.replies_zip, name="notice_replies_zip"),
    path("<int:pk>/print/", views.print_view, name="notice_print"),
    path("<int:pk>/remind/", views.remind, name="notice_remind"),
    path("<int:pk>/withdraw/", views.withdraw, name="notice_withdraw"),
    path("<int:pk>/correct/", views.correct, name="notice_correct"),
    path("<int:pk>/files/<int:attachment_pk>/", views.attachment, name="notice_attachment"),
    path(
        "<int:pk>/files/<int:attachment_pk>/delete/",
        views.attachment_delete,
        name="notice_attachment_delete",
    ),
]
