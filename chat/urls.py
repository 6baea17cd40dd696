from django.urls import path

from chat import views

urlpatterns = [
    path("", views.index, name="chat_index"),
    path("new/", views.new_room, name="chat_new_room"),
    path("direct/", views.direct, name="chat_direct"),
    path("direct/presence.json", views.directory_presence, name="chat_directory_presence"),
    path("search/", views.search, name="chat_search"),
    path("<int:pk>/", views.room, name="chat_room"),
    path("<int:pk>/history.json", views.history, name="chat_history"),
    path("<int:pk>/members.json", views.members, name="chat_members"),
    path("<int:pk>/post/", views.post, name="chat_post"),
    path("<int:pk>/files/<int:file_pk>/", views.file, name="chat_file"),
    path("<int:pk>/policy/", views.policy, name="chat_policy"),
    path("<int:pk>/messages/<int:seq>/edit/", views.edit, name="chat_edit"),
    path("<int:pk>/messages/<int:seq>/delete/", views.delete, name="chat_delete"),
    path("<int:pk>/messages/<int:seq>/history/", views.revisions, name="chat_revisions"),
    path(
        "<int:pk>/members/<int:account_pk>/<str:action>/",
        views.member_action,
        name="chat_member_action",
    ),
]
