"""HTML URLconf of the control plane's API keys page (the REST routes are in ``apikeys/api/urls.py``)."""

from django.urls import path

from apikeys import views

urlpatterns = [
    path("keys/", views.api_keys, name="control-api-keys"),
    path("keys/<str:key_id>/revoke/", views.api_key_revoke, name="control-api-key-revoke"),
]
