from django.urls import path

from memories.api import observation_views, views

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

# --- consolidation and observations (memories/api/observation_views.py) ---
urlpatterns += [
    path(f"{BANK}/consolidate", observation_views.ConsolidateView.as_view(), name="consolidate"),
    path(
        f"{BANK}/consolidation/recover",
        observation_views.RecoverConsolidationView.as_view(),
        name="consolidation-recover",
    ),
    path(f"{BANK}/observations", observation_views.ObservationsView.as_view(), name="observations"),
    path(f"{BANK}/observations/scopes", observation_views.ObservationScopesView.as_view(), name="observation-scopes"),
    path(
        f"{BANK}/memories/<str:memory_id>/history",
        observation_views.ObservationHistoryView.as_view(),
        name="observation-history",
    ),
    path(
        f"{BANK}/memories/<str:memory_id>/observations",
        observation_views.MemoryObservationsView.as_view(),
        name="memory-observations",
    ),
    path(
        f"{BANK}/entities/<str:entity_id>/regenerate",
        observation_views.RegenerateEntityObservationsView.as_view(),
        name="entity-regenerate",
    ),
]
