"""The data routes of the contract: browse, curate and delete memories; documents and their chunks; entities and
graphs; tags; bank statistics; dry-run extraction.

Thin adapters: parse the request, fetch through a bank-scoped selector, call one service, answer. Reads of an
unknown bank answer 404 (they never create banks); an id that is malformed or belongs to another bank is a 404 too.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from banks import selectors as bank_selectors
from banks.config_registry import ConfigValidationError
from banks.models import Bank
from hindsight_site.api.parsing import parse_body
from hindsight_site.errors import NotFound
from memories import curation, selectors, services
from memories.api import data_serializers as s
from memories.api.serializers import parse_timestamp
from memories.api.views import RetainView
from memories.curation import UNSET, MemoryEdit

_OPEN_OBJECT = OpenApiResponse(description="The memory unit, as an object.")


def _bank(bank_id: str) -> Bank:
    if "\x00" in bank_id:  # PostgreSQL text cannot hold NUL: no bank can be named so
        raise NotFound(f"Bank '{bank_id}' not found")
    return bank_selectors.get_bank(bank_id=bank_id)


def _bank_scope(request):
    """The banks this request may read when a route names no bank (``chunks/{id}``); None means every bank.

    The API-key permission sets ``request.bank_scope`` (a ``Bank`` queryset) for a key limited to some banks, so a
    chunk id never reveals another bank's text.
    """
    return getattr(request, "bank_scope", None)


# --- memories -----------------------------------------------------------------------------------------------------


class MemoriesView(RetainView):
    """``POST …/memories`` (retain, inherited) and ``DELETE …/memories`` (clear the bank, or one fact type)."""

    @extend_schema(
        operation_id="clear_bank_memories",
        parameters=[s.ClearMemoriesQuerySerializer],
        responses={200: s.DeleteResponseSerializer},
    )
    def delete(self, request, bank_id: str):
        query = s.parse_query_params(request, s.ClearMemoriesQuerySerializer)
        bank = _bank(bank_id)
        deleted = curation.clear_memories(bank=bank, fact_type=query.get("type"))
        scope = f"{query['type']} memories" if query.get("type") else "memories"
        return Response({"success": True, "message": f"Deleted {deleted} {scope}", "deleted_count": deleted})


class MemoryListView(APIView):
    @extend_schema(
        operation_id="list_memories",
        parameters=[s.MemoryListQuerySerializer],
        responses=s.ListMemoryUnitsResponseSerializer,
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.MemoryListQuerySerializer)
        bank = _bank(bank_id)
        state = query.get("state") or "valid"
        filters = selectors.MemoryListFilters(
            fact_type=query.get("type"),
            q=query.get("q"),
            consolidation_state=query.get("consolidation_state"),
            state=None if state == "all" else state,
            document_id=query.get("document_id"),
            entity_id=query.get("entity_id"),
            tags=query.get("tags") or None,
            tags_match=query["tags_match"],
            time_field=query.get("time_field"),
            start=query.get("start_date"),
            end=query.get("end_date"),
        )
        items, total = selectors.list_memory_units(
            bank=bank, filters=filters, limit=query["limit"], offset=query["offset"]
        )
        return Response({"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]})


def _date_edit(value):
    """'' clears (None); a datetime sets; null or absent leaves unchanged."""
    if value is None:
        return UNSET
    return None if value == "" else value


class MemoryDetailView(APIView):
    @extend_schema(operation_id="get_memory", responses={200: _OPEN_OBJECT})
    def get(self, request, bank_id: str, memory_id: str):
        return Response(selectors.load_memory_detail(bank=_bank(bank_id), memory_id=memory_id))

    @extend_schema(operation_id="update_memory", request=s.UpdateMemoryRequestSerializer, responses={200: _OPEN_OBJECT})
    def patch(self, request, bank_id: str, memory_id: str):
        data = parse_body(request, s.UpdateMemoryRequestSerializer)
        bank = _bank(bank_id)
        unit = selectors.get_memory_unit(bank=bank, memory_id=memory_id)
        edit = MemoryEdit(
            text=UNSET if data.get("text") is None else data["text"],
            context=UNSET if data.get("context") is None else data["context"],
            occurred_start=_date_edit(data.get("occurred_start")),
            occurred_end=_date_edit(data.get("occurred_end")),
            mentioned_at=_date_edit(data.get("mentioned_at")),
            fact_type=UNSET if data.get("fact_type") is None else data["fact_type"],
            entities=UNSET if data.get("entities") is None else data["entities"],
            resolve_entities=data.get("resolve_entities", True),
            state=UNSET if data.get("state") is None else data["state"],
            reason=UNSET if data.get("reason") is None else data["reason"],
        )
        curation.update_memory(bank=bank, unit=unit, edit=edit)
        return Response(selectors.load_memory_detail(bank=bank, memory_id=memory_id))

    @extend_schema(
        operation_id="delete_memory",
        description="Our addition (not in the 1.1.0 contract): delete one memory with its links and entity "
        "mentions; observations resting only on it go too.",
        responses={200: s.DeleteResponseSerializer},
    )
    def delete(self, request, bank_id: str, memory_id: str):
        bank = _bank(bank_id)
        unit = selectors.get_memory_unit(bank=bank, memory_id=memory_id)
        deleted = curation.delete_memory(bank=bank, unit=unit)
        return Response({"success": True, "message": f"Memory '{memory_id}' deleted", "deleted_count": deleted})


class DryRunExtractView(APIView):
    read_only_safe = True  # a POST that stores nothing

    @extend_schema(
        operation_id="dry_run_extract_memories",
        request=s.DryRunExtractRequestSerializer,
        responses=s.DryRunExtractionResultSerializer,
    )
    def post(self, request, bank_id: str):
        data = parse_body(request, s.DryRunExtractRequestSerializer)
        content = _text_content(data["content"])
        timestamp = None
        if data.get("timestamp"):
            timestamp, problem = parse_timestamp(data["timestamp"], now=None)
            if problem:
                raise _body_error("timestamp", problem)
        # An unknown bank is previewed with the server defaults; nothing is created.
        bank = Bank.objects.filter(bank_id=bank_id).first()
        config = bank_selectors.resolved_config(bank) if bank else bank_selectors.server_defaults()
        overrides = {key: data.get(key) for key in services.DRY_RUN_OVERRIDES}
        context = data.get("context") or ""
        if data.get("agent_name"):
            context = f"{context} (speaker: {data['agent_name']})".strip()
        try:
            result = services.dry_run_extract(
                config=config, content=content, context=context, timestamp=timestamp, overrides=overrides
            )
        except ConfigValidationError as exc:  # an override in the body: a request-shape error here, not a config one
            raise _body_error(exc.field, exc.message) from None
        return Response(result)


def _body_error(field: str, message: str):
    from rest_framework.exceptions import ValidationError

    exc = ValidationError({field: [message]})
    exc.location = "body"
    return exc


def _text_content(content) -> str:
    """DryRunExtractRequest.content: a string, or text content blocks (this server extracts text only)."""
    if isinstance(content, str):
        text = content
    elif isinstance(content, list) and all(isinstance(block, dict) for block in content):
        if any(block.get("type") != "text" or not isinstance(block.get("text"), str) for block in content):
            raise _body_error("content", "only text content blocks ({type: text, text}) are supported here")
        text = "\n\n".join(block["text"] for block in content)
    else:
        raise _body_error("content", "must be a string or a list of content blocks")
    if not text.strip():
        raise _body_error("content", "must not be empty")
    if len(text) > settings.HINDSIGHT_RETAIN_MAX_CONTENT_CHARS:
        raise _body_error("content", f"is longer than {settings.HINDSIGHT_RETAIN_MAX_CONTENT_CHARS} characters")
    return text


# --- documents and chunks -----------------------------------------------------------------------------------------


class DocumentListView(APIView):
    @extend_schema(
        operation_id="list_documents",
        parameters=[s.DocumentListQuerySerializer],
        responses=s.ListDocumentsResponseSerializer,
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.DocumentListQuerySerializer)
        bank = _bank(bank_id)
        items, total = selectors.list_documents(
            bank=bank,
            q=query.get("q"),
            tags=query.get("tags") or None,
            tags_match=query["tags_match"],
            time_field=query.get("time_field"),
            start=query.get("start_date"),
            end=query.get("end_date"),
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response(
            {
                "items": items,
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
                "total_is_estimate": False,
            }
        )


class DocumentDetailView(APIView):
    @extend_schema(operation_id="get_document", responses=s.DocumentResponseSerializer)
    def get(self, request, bank_id: str, document_id: str):
        return Response(selectors.document_detail(bank=_bank(bank_id), document_id=document_id))

    @extend_schema(
        operation_id="update_document",
        request=s.UpdateDocumentRequestSerializer,
        responses=s.UpdateDocumentResponseSerializer,
    )
    def patch(self, request, bank_id: str, document_id: str):
        data = parse_body(request, s.UpdateDocumentRequestSerializer)
        bank = _bank(bank_id)
        document = selectors.get_document(bank=bank, document_id=document_id)
        curation.update_document(
            bank=bank,
            document=document,
            tags=UNSET if data.get("tags") is None else [tag.strip() for tag in data["tags"] if tag.strip()],
            observation_scopes=UNSET if data.get("observation_scopes") is None else data["observation_scopes"],
        )
        return Response({"success": True})

    @extend_schema(operation_id="delete_document", responses={200: s.DeleteDocumentResponseSerializer})
    def delete(self, request, bank_id: str, document_id: str):
        bank = _bank(bank_id)
        document = selectors.get_document(bank=bank, document_id=document_id)
        deleted = curation.delete_document(bank=bank, document=document)
        return Response(
            {
                "success": True,
                "message": f"Document '{document_id}' and {deleted} memory units deleted",
                "document_id": document_id,
                "memory_units_deleted": deleted,
            }
        )


class DocumentChunksView(APIView):
    @extend_schema(
        operation_id="list_document_chunks",
        parameters=[s.ChunkListQuerySerializer],
        responses=s.ListChunksResponseSerializer,
    )
    def get(self, request, bank_id: str, document_id: str):
        query = s.parse_query_params(request, s.ChunkListQuerySerializer)
        items, total = selectors.list_document_chunks(
            bank=_bank(bank_id), document_id=document_id, limit=query["limit"], offset=query["offset"]
        )
        return Response({"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]})


class DocumentHistoryView(APIView):
    @extend_schema(
        operation_id="get_document_history",
        parameters=[s.ChunkListQuerySerializer],
        responses=s.DocumentHistoryResponseSerializer,
    )
    def get(self, request, bank_id: str, document_id: str):
        query = s.parse_query_params(request, s.ChunkListQuerySerializer)
        items, total = selectors.document_history(
            bank=_bank(bank_id), document_id=document_id, limit=query["limit"], offset=query["offset"]
        )
        return Response(
            {
                "document_id": document_id,
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
                "items": items,
            }
        )


class DocumentReprocessView(APIView):
    @extend_schema(operation_id="reprocess_document", request=None, responses=s.ReprocessDocumentResponseSerializer)
    def post(self, request, bank_id: str, document_id: str):
        bank = _bank(bank_id)
        document = selectors.get_document(bank=bank, document_id=document_id)
        operation = curation.reprocess_document(bank=bank, document=document)
        return Response({"success": True, "operation_id": str(operation.pk), "items_count": 1})


class ChunkDetailView(APIView):
    @extend_schema(operation_id="get_chunk", responses=s.ChunkResponseSerializer)
    def get(self, request, chunk_id: str):
        chunk = selectors.get_chunk(chunk_id=chunk_id, banks=_bank_scope(request))
        return Response(selectors.chunk_payload(chunk))


# --- entities, graphs, tags, statistics -----------------------------------------------------------------------------


class EntityListView(APIView):
    @extend_schema(
        operation_id="list_entities",
        parameters=[s.EntityListQuerySerializer],
        responses=s.EntityListResponseSerializer,
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.EntityListQuerySerializer)
        items, total = selectors.list_entities(
            bank=_bank(bank_id),
            q=query.get("q"),
            tags=query.get("tags") or None,
            tags_match=query["tags_match"],
            tag_groups=query.get("tag_groups"),
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response({"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]})


class EntityGraphView(APIView):
    @extend_schema(
        operation_id="get_entity_graph",
        parameters=[s.EntityGraphQuerySerializer],
        responses=s.EntityGraphResponseSerializer,
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.EntityGraphQuerySerializer)
        return Response(
            selectors.entity_graph(
                bank=_bank(bank_id),
                limit=query["limit"],
                min_count=query["min_count"],
                tags=query.get("tags") or None,
                tags_match=query["tags_match"],
                tag_groups=query.get("tag_groups"),
            )
        )


class EntityDetailView(APIView):
    @extend_schema(
        operation_id="get_entity",
        parameters=[s.EntityDetailQuerySerializer],
        responses=s.EntityDetailResponseSerializer,
    )
    def get(self, request, bank_id: str, entity_id: str):
        query = s.parse_query_params(request, s.EntityDetailQuerySerializer)
        return Response(
            selectors.entity_detail(
                bank=_bank(bank_id),
                entity_id=entity_id,
                tags=query.get("tags") or None,
                tags_match=query["tags_match"],
                tag_groups=query.get("tag_groups"),
            )
        )


class MemoryGraphView(APIView):
    @extend_schema(
        operation_id="get_graph", parameters=[s.GraphQuerySerializer], responses=s.GraphDataResponseSerializer
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.GraphQuerySerializer)
        return Response(
            selectors.memory_graph(
                bank=_bank(bank_id),
                fact_type=query.get("type"),
                limit=query["limit"],
                q=query.get("q"),
                tags=query.get("tags") or None,
                tags_match=query["tags_match"],
                document_id=query.get("document_id"),
                chunk_id=query.get("chunk_id"),
            )
        )


class TagListView(APIView):
    @extend_schema(
        operation_id="list_tags", parameters=[s.TagListQuerySerializer], responses=s.ListTagsResponseSerializer
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.TagListQuerySerializer)
        items, total = selectors.list_tags(
            bank=_bank(bank_id),
            q=query.get("q"),
            source=query["source"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response({"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]})


class BankStatsView(APIView):
    @extend_schema(
        operation_id="get_agent_stats", parameters=[s.StatsQuerySerializer], responses=s.BankStatsResponseSerializer
    )
    def get(self, request, bank_id: str):
        s.parse_query_params(request, s.StatsQuerySerializer)  # ``refresh``: every answer is computed fresh
        return Response(selectors.bank_stats(bank=_bank(bank_id)))


class MemoriesTimeseriesView(APIView):
    @extend_schema(
        operation_id="get_memories_timeseries",
        parameters=[s.TimeseriesQuerySerializer],
        responses=s.MemoriesTimeseriesResponseSerializer,
    )
    def get(self, request, bank_id: str):
        query = s.parse_query_params(request, s.TimeseriesQuerySerializer)
        return Response(
            selectors.memories_timeseries(
                bank=_bank(bank_id), period=query["period"], time_field=query["time_field"], now=timezone.now()
            )
        )
