"""The control plane's memory tabs: memories, entities, documents (with retain) and the recall playground."""

from django.urls import path

from memories import views

urlpatterns = [
    path("banks/<str:bank_id>/memories/", views.memories_tab, name="control-bank-memories"),
    path("banks/<str:bank_id>/memories/<str:memory_id>/", views.memory_detail, name="control-memory-detail"),
    path("banks/<str:bank_id>/memories/<str:memory_id>/edit/", views.memory_edit, name="control-memory-edit"),
    path("banks/<str:bank_id>/memories/<str:memory_id>/state/", views.memory_state, name="control-memory-state"),
    path("banks/<str:bank_id>/memories/<str:memory_id>/delete/", views.memory_delete, name="control-memory-delete"),
    path("banks/<str:bank_id>/entities/", views.entities_tab, name="control-bank-entities"),
    path("banks/<str:bank_id>/entities/<str:entity_id>/", views.entity_detail, name="control-entity-detail"),
    path("banks/<str:bank_id>/documents/", views.documents_tab, name="control-bank-documents"),
    # Document ids may contain "/": the detail route takes the rest of the path and serves delete too (POST).
    path("banks/<str:bank_id>/documents/<path:document_id>/", views.document_detail, name="control-document-detail"),
    path(
        "banks/<str:bank_id>/operations/<uuid:operation_id>/progress/",
        views.operation_progress,
        name="control-operation",
    ),
    path("banks/<str:bank_id>/recall/", views.recall_tab, name="control-bank-recall"),
]
