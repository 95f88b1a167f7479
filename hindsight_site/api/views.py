"""Unscoped server routes: health and version."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from rest_framework.response import Response
from rest_framework.views import APIView

API_VERSION = "1.1.0"
SERVER_VERSION = "0.1.0"


def _features() -> dict[str, bool]:
    return {
        "observations": False,
        "mcp": False,
        "worker": True,
        "bank_config_api": settings.HINDSIGHT_ENABLE_BANK_CONFIG_API,
        "bank_llm_health": False,
        "file_upload_api": False,
        "document_export_api": False,
        "document_import_api": False,
        "audit_log": False,
        "llm_trace": False,
        "store_document_text": True,
    }


class HealthView(APIView):
    """200 when the database answers, 503 otherwise; never raises."""

    def get(self, request):
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as exc:  # any database failure means "unhealthy", reported, not raised
            return Response(
                {
                    "status": "unhealthy",
                    "database": "disconnected",
                    "detail": f"Database unreachable: {exc.__class__.__name__}",
                },
                status=503,
            )
        return Response(
            {
                "status": "healthy",
                "database": "connected",
                "db_acquire_ms": round((time.perf_counter() - started) * 1000, 2),
                "database_kind": "embedded" if settings.HINDSIGHT_EMBEDDED_DATABASE else "external",
            }
        )


class VersionView(APIView):
    def get(self, request):
        return Response({"api_version": API_VERSION, "server_version": SERVER_VERSION, "features": _features()})
