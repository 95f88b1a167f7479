"""HTML URLconf of the control plane's bank pages (the REST API's routes are in ``banks/api/urls.py``).

Tab pages are named ``control-bank-<tab>`` with the kwarg ``bank_id`` and live at ``/banks/<bank_id>/<tab>/``;
``memories/urls.py`` and ``directives/urls.py`` add the other tabs the same way.
"""

from django.urls import path

from banks import views

urlpatterns = [
    path("banks/", views.bank_list, name="control-banks"),
    path("banks/new/", views.bank_create, name="control-bank-create"),
    path("banks/<str:bank_id>/", views.bank_overview, name="control-bank-overview"),
    path("banks/<str:bank_id>/delete/", views.bank_delete, name="control-bank-delete"),
    path("banks/<str:bank_id>/configuration/", views.bank_configuration, name="control-bank-configuration"),
    path(
        "banks/<str:bank_id>/configuration/reset/",
        views.bank_configuration_reset,
        name="control-bank-configuration-reset",
    ),
    path(
        "banks/<str:bank_id>/operations/<str:operation_id>/cancel/",
        views.operation_cancel,
        name="control-bank-operation-cancel",
    ),
    path(
        "banks/<str:bank_id>/operations/<str:operation_id>/retry/",
        views.operation_retry,
        name="control-bank-operation-retry",
    ),
]
