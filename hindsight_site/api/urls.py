from django.urls import path

from hindsight_site.api import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("version", views.VersionView.as_view(), name="version"),
]
