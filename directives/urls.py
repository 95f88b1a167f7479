"""The control plane's reflect playground, directives and mental models."""

from django.urls import path

from directives import views

urlpatterns = [
    path("banks/<str:bank_id>/reflect/", views.reflect_tab, name="control-bank-reflect"),
    path("banks/<str:bank_id>/directives/", views.directives_tab, name="control-bank-directives"),
    path(
        "banks/<str:bank_id>/directives/<str:directive_id>/edit/", views.directive_edit, name="control-directive-edit"
    ),
    path(
        "banks/<str:bank_id>/directives/<str:directive_id>/toggle/",
        views.directive_toggle,
        name="control-directive-toggle",
    ),
    path(
        "banks/<str:bank_id>/directives/<str:directive_id>/delete/",
        views.directive_delete,
        name="control-directive-delete",
    ),
    path("banks/<str:bank_id>/mental-models/", views.mental_models_tab, name="control-bank-mental-models"),
    path(
        "banks/<str:bank_id>/mental-models/<str:mental_model_id>/",
        views.mental_model_detail,
        name="control-mental-model",
    ),
    path(
        "banks/<str:bank_id>/mental-models/<str:mental_model_id>/refresh/",
        views.mental_model_refresh,
        name="control-mental-model-refresh",
    ),
    path(
        "banks/<str:bank_id>/mental-models/<str:mental_model_id>/delete/",
        views.mental_model_delete,
        name="control-mental-model-delete",
    ),
]
