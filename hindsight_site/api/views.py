"""Unscoped server routes: health (readiness and liveness), version with feature flags, Prometheus metrics."""

from __future__ import annotations

import time

import psutil
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hindsight_site import metrics

API_VERSION = "1.1.0"
SERVER_VERSION = "0.1.0"

# When this process started: liveness reports uptime without touching the database.
_PROCESS_STARTED = psutil.Process().create_time()


def _features() -> dict[str, bool]:
    return {
        # Whether new banks consolidate observations unless configured otherwise (the server-wide default).
        "observations": bool(settings.HINDSIGHT_CONFIG_DEFAULTS.get("enable_observations", False)),
        "mcp": False,
        "worker": True,
        "bank_config_api": settings.HINDSIGHT_ENABLE_BANK_CONFIG_API,
        "bank_llm_health": settings.HINDSIGHT_ENABLE_BANK_LLM_HEALTH,
        "file_upload_api": False,
        "document_export_api": False,
        "document_import_api": False,
        "audit_log": False,
        "llm_trace": False,
        "store_document_text": True,
    }


class FeaturesSerializer(serializers.Serializer):
    observations = serializers.BooleanField()
    mcp = serializers.BooleanField()
    worker = serializers.BooleanField()
    bank_config_api = serializers.BooleanField()
    bank_llm_health = serializers.BooleanField()
    file_upload_api = serializers.BooleanField()
    document_export_api = serializers.BooleanField()
    document_import_api = serializers.BooleanField()
    audit_log = serializers.BooleanField()
    llm_trace = serializers.BooleanField()
    store_document_text = serializers.BooleanField()


class VersionResponseSerializer(serializers.Serializer):
    api_version = serializers.CharField()
    server_version = serializers.CharField()
    features = FeaturesSerializer()


class LivenessResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["alive"])
    version = serializers.CharField()
    uptime_seconds = serializers.FloatField()


def _readiness() -> Response:
    """200 when the database answers, 503 otherwise; never raises."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not ready", reported, not raised
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


class HealthView(APIView):
    """Readiness under its historical name: gates traffic on the database."""

    @extend_schema(operation_id="health_endpoint_health_get", responses={200: dict, 503: dict})
    def get(self, request):
        return _readiness()


class ReadinessView(APIView):
    @extend_schema(operation_id="get_readiness", responses={200: dict, 503: dict})
    def get(self, request):
        return _readiness()


class LivenessView(APIView):
    """Answers whenever the process can serve a request; no database access, so a slow database never restarts it."""

    @extend_schema(operation_id="get_liveness", responses={200: LivenessResponseSerializer})
    def get(self, request):
        return Response(
            {
                "status": "alive",
                "version": SERVER_VERSION,
                "uptime_seconds": round(time.time() - _PROCESS_STARTED, 3),
            }
        )


class VersionView(APIView):
    @extend_schema(operation_id="get_version", responses={200: VersionResponseSerializer})
    def get(self, request):
        return Response({"api_version": API_VERSION, "server_version": SERVER_VERSION, "features": _features()})


class PrometheusRenderer(renderers.BaseRenderer):
    """Lets content negotiation accept scrapers asking for ``text/plain``; the body is rendered by prometheus_client."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


class MetricsView(APIView):
    """Prometheus text exposition of every process of this server (see ``hindsight_site.metrics``)."""

    renderer_classes = [renderers.JSONRenderer, PrometheusRenderer]

    @extend_schema(operation_id="metrics_endpoint_metrics_get", responses={(200, "text/plain"): str})
    def get(self, request):
        body, content_type = metrics.render()
        return HttpResponse(body, content_type=content_type)
