from django.urls import path

from memories.api import data_views, observation_views, views

BANK = "v1/default/banks/<str:bank_id>"

urlpatterns = [
    # POST retains; DELETE clears the bank's memories (data routes).
    path(f"{BANK}/memories", data_views.MemoriesView.as_view(), name="retain"),
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

# --- data routes: browse, curate and delete memories, documents, chunks, entities, graphs, tags, statistics -------
# Document ids may contain "/" (the SDK sends it as %2F, which the server decodes before routing), so they use the
# path converter; the fixed suffixes (/chunks, /history, /reprocess) are matched first. A document id that itself
# ends in "/chunks" can therefore only be read through the list and recall routes.
urlpatterns += [
    path(f"{BANK}/memories/list", data_views.MemoryListView.as_view(), name="memory-list"),
    path(f"{BANK}/memories/dry-run-extract", data_views.DryRunExtractView.as_view(), name="memory-dry-run-extract"),
    path(f"{BANK}/memories/<str:memory_id>", data_views.MemoryDetailView.as_view(), name="memory-detail"),
    path(f"{BANK}/documents", data_views.DocumentListView.as_view(), name="document-list"),
    path(
        f"{BANK}/documents/<path:document_id>/chunks",
        data_views.DocumentChunksView.as_view(),
        name="document-chunks",
    ),
    path(
        f"{BANK}/documents/<path:document_id>/history",
        data_views.DocumentHistoryView.as_view(),
        name="document-history",
    ),
    path(
        f"{BANK}/documents/<path:document_id>/reprocess",
        data_views.DocumentReprocessView.as_view(),
        name="document-reprocess",
    ),
    path(f"{BANK}/documents/<path:document_id>", data_views.DocumentDetailView.as_view(), name="document-detail"),
    path("v1/default/chunks/<str:chunk_id>", data_views.ChunkDetailView.as_view(), name="chunk-detail"),
    path(f"{BANK}/entities", data_views.EntityListView.as_view(), name="entity-list"),
    path(f"{BANK}/entities/graph", data_views.EntityGraphView.as_view(), name="entity-graph"),
    path(f"{BANK}/entities/<str:entity_id>", data_views.EntityDetailView.as_view(), name="entity-detail"),
    path(f"{BANK}/graph", data_views.MemoryGraphView.as_view(), name="memory-graph"),
    path(f"{BANK}/tags", data_views.TagListView.as_view(), name="tag-list"),
    path(f"{BANK}/stats", data_views.BankStatsView.as_view(), name="bank-stats"),
    path(
        f"{BANK}/stats/memories-timeseries",
        data_views.MemoriesTimeseriesView.as_view(),
        name="bank-memories-timeseries",
    ),
]
