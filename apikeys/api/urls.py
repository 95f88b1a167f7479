from django.urls import path

from apikeys.api import views

urlpatterns = [
    path("v1/admin/api-keys", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("v1/admin/api-keys/<str:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
