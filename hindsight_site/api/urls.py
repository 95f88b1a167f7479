from django.urls import path

from hindsight_site.api import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="health"),
    path("health/ready", views.ReadinessView.as_view(), name="health-ready"),
    path("health/live", views.LivenessView.as_view(), name="health-live"),
    path("version", views.VersionView.as_view(), name="version"),
    path("metrics", views.MetricsView.as_view(), name="metrics"),
]
