"""Consolidation and observation routes of the contract. Thin: parse, find the bank, call one service, answer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from banks import selectors as bank_selectors
from banks import services as bank_services
from banks.api.serializers import DeleteResponseSerializer
from banks.models import Bank
from hindsight_site.api.parsing import parse_query
from memories import consolidation, observations
from memories.api.observation_serializers import (
    ClearMemoryObservationsResponseSerializer,
    ConsolidationRequestSerializer,
    ConsolidationResponseSerializer,
    ObservationHistoryEntrySerializer,
    ObservationScopesQuerySerializer,
    ObservationScopesResponseSerializer,
    RecoverConsolidationResponseSerializer,
    parse_consolidation_request,
)


class ConsolidateView(APIView):
    @extend_schema(
        operation_id="trigger_consolidation",
        request=ConsolidationRequestSerializer,
        responses=ConsolidationResponseSerializer,
    )
    def post(self, request, bank_id: str):
        scopes = parse_consolidation_request(request.data)
        bank = bank_services.get_or_create_bank(bank_id=bank_id)
        operation, deduplicated = consolidation.trigger_consolidation(bank=bank, observation_scopes=scopes)
        return Response({"operation_id": str(operation.pk), "deduplicated": deduplicated})


class ObservationsView(APIView):
    @extend_schema(operation_id="clear_observations", request=None, responses={200: DeleteResponseSerializer})
    def delete(self, request, bank_id: str):
        bank = Bank.objects.filter(bank_id=bank_id).first()
        deleted = observations.clear_observations(bank=bank) if bank is not None else 0
        return Response({"success": True, "message": f"Deleted {deleted} observations", "deleted_count": deleted})


class ObservationScopesView(APIView):
    @extend_schema(
        operation_id="list_observation_scopes",
        parameters=[ObservationScopesQuerySerializer],
        responses={200: ObservationScopesResponseSerializer, 404: OpenApiResponse(description="No such bank.")},
    )
    def get(self, request, bank_id: str):
        query = parse_query(request, ObservationScopesQuerySerializer)
        bank = bank_selectors.get_bank(bank_id=bank_id)
        scopes, total = observations.observation_scopes(bank=bank, limit=query["limit"], offset=query["offset"])
        return Response({"scopes": scopes, "total": total, "limit": query["limit"], "offset": query["offset"]})


class ObservationHistoryView(APIView):
    @extend_schema(operation_id="get_observation_history", responses=ObservationHistoryEntrySerializer(many=True))
    def get(self, request, bank_id: str, memory_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        return Response(observations.observation_history(bank=bank, memory_id=memory_id))


class MemoryObservationsView(APIView):
    @extend_schema(
        operation_id="clear_memory_observations",
        request=None,
        responses={200: ClearMemoryObservationsResponseSerializer},
    )
    def delete(self, request, bank_id: str, memory_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        deleted = observations.clear_memory_observations(bank=bank, memory_id=memory_id)
        return Response({"deleted_count": deleted})


class RecoverConsolidationView(APIView):
    @extend_schema(operation_id="recover_consolidation", request=None, responses=RecoverConsolidationResponseSerializer)
    def post(self, request, bank_id: str):
        bank = Bank.objects.filter(bank_id=bank_id).first()
        retried = observations.recover_consolidation(bank=bank) if bank is not None else 0
        return Response({"retried_count": retried})


class RegenerateEntityObservationsView(APIView):
    @extend_schema(
        operation_id="regenerate_entity_observations",
        request=None,
        responses={410: OpenApiResponse(description="Retired: entity observations are no longer supported.")},
        deprecated=True,
    )
    def post(self, request, bank_id: str, entity_id: str):
        return Response(
            {
                "detail": "Entity observations are retired: consolidation keeps observations per tag scope "
                "(POST …/consolidate), and mental models summarise an entity on demand."
            },
            status=410,
        )
