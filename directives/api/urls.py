from django.urls import path

from directives.api import views

BANK = "v1/default/banks/<str:bank_id>"
MODEL = f"{BANK}/mental-models/<str:mental_model_id>"

urlpatterns = [
    path(f"{BANK}/reflect", views.ReflectView.as_view(), name="reflect"),
    path(f"{BANK}/prompts/preview", views.PromptPreviewView.as_view(), name="prompt-preview"),
    path(f"{BANK}/directives", views.DirectiveListView.as_view(), name="directive-list"),
    path(f"{BANK}/directives/<str:directive_id>", views.DirectiveDetailView.as_view(), name="directive-detail"),
    path(f"{BANK}/mental-models", views.MentalModelListView.as_view(), name="mental-model-list"),
    path(f"{MODEL}/history", views.MentalModelHistoryView.as_view(), name="mental-model-history"),
    path(f"{MODEL}/refresh", views.MentalModelRefreshView.as_view(), name="mental-model-refresh"),
    path(f"{MODEL}/dry-run-refresh", views.MentalModelDryRunRefreshView.as_view(), name="mental-model-dry-run"),
    path(f"{MODEL}/clear", views.MentalModelClearView.as_view(), name="mental-model-clear"),
    path(MODEL, views.MentalModelDetailView.as_view(), name="mental-model-detail"),
]
