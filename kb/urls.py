from django.urls import path

from kb import views

urlpatterns = [
    path("", views.article_list, name="kb_list"),
    path("new/", views.article_new, name="kb_new"),
    path("suggest.json", views.suggest, name="kb_suggest"),
    path("<int:pk>/", views.article_detail, name="kb_article"),
    path("<int:pk>/edit/", views.article_edit, name="kb_edit"),
    path("<int:pk>/publish/", views.article_publish, name="kb_publish"),
]
