from django.urls import path

from memories.api import views

BANK = "v1/default/banks/<str:bank_id>"

urlpatterns = [
    path(f"{BANK}/memories", views.RetainView.as_view(), name="retain"),
    # Fixed sub-paths of memories/ come before any memories/{memory_id} route.
    path(f"{BANK}/memories/recall", views.RecallView.as_view(), name="recall"),
    path(f"{BANK}/operations", views.OperationListView.as_view(), name="operation-list"),
    # The record-deleting route must come before the cancel route's pattern could claim ".../delete".
    path(f"{BANK}/operations/<str:operation_id>/delete", views.OperationDeleteView.as_view(), name="operation-delete"),
    path(f"{BANK}/operations/<str:operation_id>/retry", views.OperationRetryView.as_view(), name="operation-retry"),
    path(f"{BANK}/operations/<str:operation_id>", views.OperationDetailView.as_view(), name="operation-detail"),
]
