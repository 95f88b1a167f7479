"""Contract routes this server does not offer: each answers 501 with a ``detail`` naming what is missing.

A client calling one of these learns at once, in words, that the feature is absent here, instead of a 404 that
reads like a wrong URL or a 405 that reads like a wrong method. Remove a line when the route is built.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from hindsight_site.errors import NotImplementedByServer

BANK = "v1/default/banks/<str:bank_id>"

# (route, what a person would call the feature)
UNSERVED: tuple[tuple[str, str], ...] = (
    (f"{BANK}/knowledge-base/tree", "The knowledge base"),
    (f"{BANK}/knowledge-base/folders", "The knowledge base"),
    (f"{BANK}/knowledge-base/pages", "The knowledge base"),
    (f"{BANK}/knowledge-base/export", "The knowledge base"),
    (f"{BANK}/knowledge-base/search", "The knowledge base"),
    (f"{BANK}/knowledge-base/pages/<str:page_id>", "The knowledge base"),
    (f"{BANK}/knowledge-base/nodes/<str:node_id>", "The knowledge base"),
    (f"{BANK}/background", "Bank background text (use the mission fields of the bank config)"),
    (f"{BANK}/aliases", "Bank aliases"),
    (f"{BANK}/aliases/<str:alias>", "Bank aliases"),
    (f"{BANK}/document-transfer", "Document transfer"),
    (f"{BANK}/document-transfer/export", "Document transfer"),
    (f"{BANK}/transfer/export", "Bank transfer"),
    (f"{BANK}/transfer/import", "Bank transfer"),
    (f"{BANK}/clone", "Bank cloning"),
    (f"{BANK}/attachments/<str:attachment_id>", "Attachments"),
    ("v1/default/files/download/<path:key>", "File download"),
    (f"{BANK}/files/retain", "File retain (this server retains text; send the text to the memories route)"),
    (f"{BANK}/webhooks", "Webhooks"),
    (f"{BANK}/webhooks/<str:webhook_id>", "Webhooks"),
    (f"{BANK}/webhooks/<str:webhook_id>/deliveries", "Webhooks"),
    (f"{BANK}/audit-logs", "Audit logs"),
    (f"{BANK}/audit-logs/stats", "Audit logs"),
    (f"{BANK}/audit-logs/<str:log_id>", "Audit logs"),
    (f"{BANK}/llm-requests", "LLM request tracing"),
    (f"{BANK}/llm-requests/stats", "LLM request tracing"),
    (f"{BANK}/consolidation-strategies/preview", "Consolidation strategies"),
)


class NotOfferedView(APIView):
    """Every method answers 501; kept out of our OpenAPI document, which describes what we serve."""

    feature = ""

    def _refuse(self, request, *args, **kwargs):
        raise NotImplementedByServer(f"{self.feature} is not offered by this server.")

    get = post = put = patch = delete = _refuse


NotOfferedView = extend_schema(exclude=True)(NotOfferedView)

urlpatterns = [path(route, NotOfferedView.as_view(feature=feature)) for route, feature in UNSERVED]
