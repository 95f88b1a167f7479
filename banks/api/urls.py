from django.urls import path

from banks.api import views

urlpatterns = [
    path("v1/default/banks", views.BankListView.as_view(), name="bank-list"),
    path("v1/default/banks/<str:bank_id>", views.BankDetailView.as_view(), name="bank-detail"),
    path("v1/default/banks/<str:bank_id>/profile", views.BankProfileView.as_view(), name="bank-profile"),
    path("v1/default/banks/<str:bank_id>/config", views.BankConfigView.as_view(), name="bank-config"),
    path("v1/default/banks/<str:bank_id>/export", views.BankExportView.as_view(), name="bank-export"),
    path("v1/default/banks/<str:bank_id>/import", views.BankImportView.as_view(), name="bank-import"),
    path("v1/bank-template-schema", views.BankTemplateSchemaView.as_view(), name="bank-template-schema"),
    path("v1/default/banks/<str:bank_id>/health/llm", views.BankLlmHealthView.as_view(), name="bank-llm-health"),
]
