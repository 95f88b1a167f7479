"""``Hindsight``: the client. Every operation is written once, as a builder returning a ``Call``; ``_pair`` turns
each builder into the sync method and its ``a``-prefixed async twin, so the two can never send different requests.

Method names, argument names and defaults follow the upstream ``hindsight-client`` 1.1.0, so code written for it runs
unchanged; request bodies follow its wire format (explicit ``null``s where it sends them).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from hindsight_client import models as m
from hindsight_client._http import BANKS, Call, Connection, bank_path, query
from hindsight_client.errors import HindsightError

__version__ = "0.1.0"

#: Budget names recall and reflect accept.
Budget = Literal["low", "mid", "high"]
TagsMatch = Literal["any", "all", "any_strict", "all_strict", "exact"]

_TERMINAL_OPERATION_STATES = frozenset({"completed", "failed", "cancelled", "not_found"})


def _pair(build: Callable[..., Call]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The sync method and the async twin of one request builder (named after it, ``_x`` → ``x``/``ax``)."""
    name = build.__name__.lstrip("_")

    @functools.wraps(build)
    def sync(self, *args, **kwargs):
        return self._conn.send(build(self, *args, **kwargs))

    @functools.wraps(build)
    async def asynchronous(self, *args, **kwargs):
        return await self._conn.asend(build(self, *args, **kwargs))

    signature = _result_signature(build)
    for fn, fn_name in ((sync, name), (asynchronous, "a" + name)):
        fn.__name__ = fn_name
        fn.__qualname__ = build.__qualname__.rsplit(".", 1)[0] + "." + fn_name
        fn.__signature__ = signature  # type: ignore[attr-defined]
    return sync, asynchronous


def _result_signature(build: Callable[..., Any]) -> inspect.Signature:
    """The builder's signature with ``Call[X]`` as the return annotation shown as ``X`` (what the methods return)."""
    signature = inspect.signature(build)
    annotation = signature.return_annotation
    if isinstance(annotation, str) and annotation.startswith("Call[") and annotation.endswith("]"):
        return signature.replace(return_annotation=annotation[5:-1])
    return signature


def _async_only(build: Callable[..., Call]) -> Callable[..., Any]:
    """An async method (the upstream low-level API objects are async-only), named after its builder."""
    name = build.__name__.lstrip("_")

    @functools.wraps(build)
    async def asynchronous(self, *args, **kwargs):
        return await self._conn.asend(build(self, *args, **kwargs))

    asynchronous.__name__ = name
    asynchronous.__qualname__ = build.__qualname__.rsplit(".", 1)[0] + "." + name
    asynchronous.__signature__ = _result_signature(build)  # type: ignore[attr-defined]
    return asynchronous


def _iso(value: datetime | str | None) -> str | None:
    """A timestamp as the upstream client sends it: ISO 8601, a naive datetime without an offset."""
    return value.isoformat() if isinstance(value, datetime) else value


def _not_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _int_trait(value: Any) -> Any:
    """Disposition traits are JSON integers on the wire; ``{"skepticism": 3.0}`` from a caller becomes 3."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Hindsight:
    """Client for a Hindsight-compatible memory server.

    ``Hindsight(base_url, api_key=None, timeout=30.0)``: sync methods (``retain``, ``recall``, ``reflect``, ...)
    and their ``a``-prefixed async twins (``aretain``, ...); namespaces ``banks``, ``memories``, ``directives``,
    ``mental_models``, ``documents``, ``operations``, ``entities``, ``monitoring``. Use it as a context manager
    (``with`` or ``async with``) or call ``close()``/``aclose()``.

    ``timeout`` is seconds per request (connect, read, write each). ``max_attempts`` bounds the attempts of a read
    the server answered 429/503. ``transport``/``async_transport`` take an ``httpx`` transport (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        user_agent: str | None = None,
        max_attempts: int = 3,
        *,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ):
        agent = f"hindsight-django-client/{__version__}"
        self._conn = Connection(
            base_url,
            api_key=api_key,
            timeout=timeout,
            user_agent=f"{user_agent} {agent}" if user_agent else agent,
            max_attempts=max_attempts,
            headers=headers,
            transport=transport,
            async_transport=async_transport,
        )
        self._timeout = timeout
        self._retain_suspended: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"hindsight_retain_suspended_{id(self)}", default=False
        )
        from hindsight_client import namespaces

        self.banks = namespaces.Banks(self)
        self.memories = namespaces.Memories(self)
        self.memory = namespaces.Memory(self)
        self.directives = namespaces.Directives(self)
        self.mental_models = namespaces.MentalModels(self)
        self.documents = namespaces.Documents(self)
        self.operations = namespaces.Operations(self)
        self.entities = namespaces.Entities(self)
        self.monitoring = namespaces.Monitoring(self)

    @property
    def base_url(self) -> str:
        return self._conn.base_url

    def __repr__(self) -> str:
        return f"Hindsight(base_url={self.base_url!r})"

    # --- lifecycle --------------------------------------------------------------------------------------------------

    def __enter__(self) -> Hindsight:
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        self.close()

    async def __aenter__(self) -> Hindsight:
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close the connections (safe to call twice, and from inside a running event loop)."""
        self._conn.close()

    async def aclose(self) -> None:
        await self._conn.aclose()

    @contextlib.contextmanager
    def suspend_retains(self) -> Iterator[None]:
        """Inside the block, retain methods send nothing and answer a successful retain of 0 items (as upstream)."""
        token = self._retain_suspended.set(True)
        try:
            yield
        finally:
            self._retain_suspended.reset(token)

    # --- server -----------------------------------------------------------------------------------------------------

    def _get_version(self) -> Call[m.VersionResponse]:
        """The server's API version and feature flags (``GET /version``)."""
        return Call.get("/version", m.VersionResponse.from_dict)

    get_version, aget_version = _pair(_get_version)

    def _health(self) -> Call[dict[str, Any]]:
        """``GET /health``: ``{"status": "healthy", ...}``; raises ``ServiceUnavailableError`` when unhealthy."""
        return Call.get("/health")

    health, ahealth = _pair(_health)

    # --- retain -----------------------------------------------------------------------------------------------------

    def _retain_batch(
        self,
        bank_id: str,
        items: list[dict[str, Any]],
        document_id: str | None = None,
        document_tags: list[str] | None = None,
        retain_async: bool = False,
        operation_id: str | None = None,
    ) -> Call[m.RetainResponse]:
        """Store several items (``{"content": ..., "context", "timestamp", "metadata", "document_id", "tags",
        "entities", ...}``) in one request. ``retain_async=True`` queues the work and answers with an
        ``operation_id`` at once; a chosen ``operation_id`` makes that submission idempotent.
        """
        if self._retain_suspended.get():
            return Call.resolved(m.RetainResponse(success=True, bank_id=bank_id, items_count=0, var_async=False))
        body: dict[str, Any] = {
            "items": [self._memory_item(item, document_id) for item in items],
            "async": retain_async,
            "document_tags": document_tags,
        }
        if operation_id is not None:
            if retain_async:
                body["operation_id"] = operation_id
            else:
                warnings.warn(
                    "operation_id is ignored for synchronous retain; pass retain_async=True to make it idempotent.",
                    stacklevel=4,
                )
        return Call("POST", bank_path(bank_id, "/memories"), json=body, parse=m.RetainResponse.from_dict)

    retain_batch, aretain_batch = _pair(_retain_batch)

    @staticmethod
    def _memory_item(item: dict[str, Any], document_id: str | None) -> dict[str, Any]:
        entities = item.get("entities")
        return {
            "content": item["content"],
            "timestamp": _iso(item.get("timestamp")),
            "context": item.get("context"),
            "metadata": item.get("metadata"),
            "document_id": item.get("document_id") or document_id,
            "entities": [{"text": e["text"], "type": e.get("type")} for e in entities] if entities else None,
            "resolve_entities": item.get("resolve_entities", True),
            "tags": item.get("tags"),
            "observation_scopes": item.get("observation_scopes"),
            "strategy": item.get("strategy"),
            "update_mode": item.get("update_mode"),
        }

    def _retain(
        self,
        bank_id: str,
        content: str | list[dict[str, Any]],
        timestamp: datetime | str | None = None,
        context: str | None = None,
        document_id: str | None = None,
        metadata: dict[str, str] | None = None,
        entities: list[dict[str, str]] | None = None,
        resolve_entities: bool | None = None,
        tags: list[str] | None = None,
        update_mode: str | None = None,
        retain_async: bool = False,
        operation_id: str | None = None,
        observation_scopes: str | list[list[str]] | None = None,
        strategy: str | None = None,
    ) -> Call[m.RetainResponse]:
        """Store one memory (a batch of one). Re-sending a ``document_id`` replaces that document."""
        item: dict[str, Any] = {
            "content": content,
            "timestamp": timestamp,
            "context": context,
            "metadata": metadata,
            "entities": entities,
            "tags": tags,
            **_not_none(
                resolve_entities=resolve_entities,
                update_mode=update_mode,
                observation_scopes=observation_scopes,
                strategy=strategy,
            ),
        }
        return self._retain_batch(
            bank_id, [item], document_id=document_id, retain_async=retain_async, operation_id=operation_id
        )

    retain, aretain = _pair(_retain)

    def _retain_files(
        self,
        bank_id: str,
        files: list[str | Path],
        context: str | None = None,
        files_metadata: list[dict[str, Any]] | None = None,
    ) -> Call[m.FileRetainResponse]:
        """Upload files to be converted and retained in the background (``POST …/files/retain``, multipart)."""
        import json

        metadata = files_metadata or [{"context": context} if context else {} for _ in files]
        parts = [("files", (Path(f).name, Path(f).read_bytes())) for f in files]
        return Call(
            "POST",
            bank_path(bank_id, "/files/retain"),
            files=parts,
            data={"request": json.dumps({"files_metadata": metadata})},
            parse=m.FileRetainResponse.from_dict,
        )

    retain_files, aretain_files = _pair(_retain_files)

    # --- recall and reflect -----------------------------------------------------------------------------------------

    def _recall(
        self,
        bank_id: str,
        query: str,
        types: list[str] | None = None,
        max_tokens: int = 4096,
        budget: str = "mid",
        trace: bool = False,
        query_timestamp: str | None = None,
        include_entities: bool = False,
        max_entity_tokens: int = 500,
        include_chunks: bool = False,
        max_chunk_tokens: int = 8192,
        include_source_facts: bool = False,
        max_source_facts_tokens: int = 4096,
        tags: list[str] | None = None,
        tags_match: TagsMatch = "any",
        tag_groups: list[dict[str, Any]] | None = None,
        prefer_observations: bool | None = None,
        min_scores: dict[str, float] | None = None,
        temporal_window: dict[str, Any] | None = None,
    ) -> Call[m.RecallResponse]:
        """Find the memories most relevant to ``query``. The result iterates over its ``results``; ``entities`` and
        ``chunks`` are filled when asked for. A read: retried on 429/503.
        """
        if min_scores is not None:
            unknown = set(min_scores) - {"semantic", "keyword", "reranker", "final"}
            if unknown:
                # A misspelled floor silently ignored would look like filtering that is not happening.
                raise ValueError(f"Unknown min_scores keys: {sorted(unknown)}")
            min_scores = {k: min_scores.get(k) for k in ("final", "semantic", "keyword", "reranker")}
        body = {
            "query": query,
            "types": types,
            "budget": budget,
            "max_tokens": max_tokens,
            "trace": trace,
            "query_timestamp": _iso(query_timestamp),
            "include": {
                "entities": {"max_tokens": max_entity_tokens} if include_entities else None,
                "chunks": {"max_tokens": max_chunk_tokens} if include_chunks else None,
                "source_facts": {"max_tokens": max_source_facts_tokens} if include_source_facts else None,
            },
            "tags": tags,
            "tags_match": tags_match,
            "tag_groups": tag_groups,
            "prefer_observations": prefer_observations,
            "min_scores": min_scores,
            "temporal_window": temporal_window,
        }
        return Call(
            "POST", bank_path(bank_id, "/memories/recall"), json=body, parse=m.RecallResponse.from_dict, retry=True
        )

    recall, arecall = _pair(_recall)

    def _reflect(
        self,
        bank_id: str,
        query: str,
        budget: str = "low",
        context: str | None = None,
        max_tokens: int | None = None,
        response_schema: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        tags_match: TagsMatch = "any",
        include_facts: bool = False,
        include_tool_calls: bool = False,
        include_tool_call_output: bool = True,
        tag_groups: list[dict[str, Any]] | None = None,
        apply_all_directives: bool = False,
        fact_types: list[str] | None = None,
        exclude_mental_models: bool = False,
        exclude_mental_model_ids: list[str] | None = None,
        reflect_search_observations_max_tokens: int | None = None,
        reflect_search_observations_include_entities: bool | None = None,
    ) -> Call[m.ReflectResponse]:
        """Answer ``query`` from the bank's memories in the bank's voice (``.text``). A read: retried on 429/503."""
        body: dict[str, Any] = {
            "query": query,
            "budget": budget,
            "context": context,
            "response_schema": response_schema,
            "tags": tags,
            "tags_match": tags_match,
            "tag_groups": tag_groups,
            "fact_types": fact_types,
            "exclude_mental_model_ids": exclude_mental_model_ids,
            "reflect_search_observations_max_tokens": reflect_search_observations_max_tokens,
            "reflect_search_observations_include_entities": reflect_search_observations_include_entities,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if include_facts or include_tool_calls:
            body["include"] = {
                "facts": {} if include_facts else None,
                "tool_calls": {"output": include_tool_call_output} if include_tool_calls else None,
            }
        if apply_all_directives:
            body["apply_all_directives"] = True
        if exclude_mental_models:
            body["exclude_mental_models"] = True
        return Call("POST", bank_path(bank_id, "/reflect"), json=body, parse=m.ReflectResponse.from_dict, retry=True)

    reflect, areflect = _pair(_reflect)

    # --- memories ---------------------------------------------------------------------------------------------------

    def _list_memories(
        self,
        bank_id: str,
        type: str | None = None,
        search_query: str | None = None,
        entity_id: str | None = None,
        time_field: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        limit: int = 100,
        offset: int = 0,
        tags: list[str] | None = None,
        tags_match: str | None = None,
        document_id: str | None = None,
        state: Literal["valid", "invalidated"] | None = None,
        consolidation_state: Literal["failed", "pending", "done"] | None = None,
    ) -> Call[m.ListMemoryUnitsResponse]:
        """A page of the bank's memory units, filtered by type, text (``search_query``), tags, dates, ..."""
        return Call.get(
            bank_path(bank_id, "/memories/list"),
            m.ListMemoryUnitsResponse.from_dict,
            type=type,
            q=search_query,
            consolidation_state=consolidation_state,
            state=state,
            document_id=document_id,
            entity_id=entity_id,
            tags=tags,
            tags_match=tags_match,
            time_field=time_field,
            start_date=_iso(start_date),
            end_date=_iso(end_date),
            limit=limit,
            offset=offset,
        )

    list_memories, alist_memories = _pair(_list_memories)

    def _get_memory(self, bank_id: str, memory_id: str) -> Call[dict[str, Any]]:
        """One memory unit, as the server describes it."""
        return Call.get(bank_path(bank_id, "/memories/{}", memory_id))

    get_memory, aget_memory = _pair(_get_memory)

    def _clear_memories(self, bank_id: str, type: str | None = None) -> Call[m.DeleteResponse]:
        """Delete the bank's memories (of one ``type`` when given), keeping the bank and its configuration."""
        return Call(
            "DELETE",
            bank_path(bank_id, "/memories"),
            params=[("type", type)] if type else None,
            parse=m.DeleteResponse.from_dict,
        )

    clear_memories, aclear_memories = _pair(_clear_memories)

    # --- banks ------------------------------------------------------------------------------------------------------

    def _create_bank(
        self,
        bank_id: str,
        name: str | None = None,
        mission: str | None = None,
        disposition_skepticism: int | None = None,
        disposition_literalism: int | None = None,
        disposition_empathy: int | None = None,
        disposition: dict[str, float] | None = None,
        retain_mission: str | None = None,
        retain_extraction_mode: str | None = None,
        retain_custom_instructions: str | None = None,
        retain_chunk_size: int | None = None,
        retain_structured_chunk_size: int | None = None,
        retain_max_attachments_per_chunk: int | None = None,
        enable_observations: bool | None = None,
        observations_mission: str | None = None,
        enable_text_search: bool | None = None,
        enable_temporal_retrieval: bool | None = None,
        enable_graph_retrieval: bool | None = None,
        enable_reranking: bool | None = None,
        reflect_mission: str | None = None,
        background: str | None = None,
    ) -> Call[m.BankProfileResponse]:
        """Create the bank, or update the fields given (``PUT``); only non-None fields are sent. The legacy
        ``disposition={"skepticism": .., "literalism": .., "empathy": ..}`` is sent as the three ``disposition_*``.
        """
        if disposition:
            disposition_skepticism = disposition_skepticism or _int_trait(disposition.get("skepticism"))
            disposition_literalism = disposition_literalism or _int_trait(disposition.get("literalism"))
            disposition_empathy = disposition_empathy or _int_trait(disposition.get("empathy"))
        body = _not_none(
            name=name,
            mission=mission,
            reflect_mission=reflect_mission,
            background=background,
            disposition_skepticism=disposition_skepticism,
            disposition_literalism=disposition_literalism,
            disposition_empathy=disposition_empathy,
            retain_mission=retain_mission,
            retain_extraction_mode=retain_extraction_mode,
            retain_custom_instructions=retain_custom_instructions,
            retain_chunk_size=retain_chunk_size,
            retain_structured_chunk_size=retain_structured_chunk_size,
            retain_max_attachments_per_chunk=retain_max_attachments_per_chunk,
            enable_observations=enable_observations,
            observations_mission=observations_mission,
            enable_text_search=enable_text_search,
            enable_temporal_retrieval=enable_temporal_retrieval,
            enable_graph_retrieval=enable_graph_retrieval,
            enable_reranking=enable_reranking,
        )
        return Call("PUT", bank_path(bank_id), json=body, parse=m.BankProfileResponse.from_dict)

    create_bank, acreate_bank = _pair(_create_bank)

    def _set_mission(self, bank_id: str, mission: str) -> Call[m.BankProfileResponse]:
        """Deprecated upstream: ``create_bank(bank_id, mission=...)``."""
        return self._create_bank(bank_id, mission=mission)

    set_mission, aset_mission = _pair(_set_mission)

    def _set_reflect_mission(self, bank_id: str, reflect_mission: str) -> Call[m.BankProfileResponse]:
        """Deprecated upstream: ``create_bank(bank_id, reflect_mission=...)``."""
        return self._create_bank(bank_id, reflect_mission=reflect_mission)

    set_reflect_mission, aset_reflect_mission = _pair(_set_reflect_mission)

    def _list_banks(
        self, q: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> Call[m.BankListResponse]:
        """The banks on the server (``q`` filters by id or name). Not in the upstream client's convenience set."""
        return Call.get(BANKS, m.BankListResponse.from_dict, q=q, limit=limit, offset=offset)

    list_banks, alist_banks = _pair(_list_banks)

    def _delete_bank(self, bank_id: str) -> Call[m.DeleteResponse]:
        """Delete the bank and everything in it."""
        return Call("DELETE", bank_path(bank_id), parse=m.DeleteResponse.from_dict)

    delete_bank, adelete_bank = _pair(_delete_bank)

    def _get_bank_config(self, bank_id: str) -> Call[dict[str, Any]]:
        """``{"bank_id", "config" (resolved), "overrides" (the bank's own)}`` as a dict, as upstream returns it."""
        return Call.get(bank_path(bank_id, "/config"))

    get_bank_config, aget_bank_config = _pair(_get_bank_config)

    def _update_bank_config(self, bank_id: str, **settings: Any) -> Call[dict[str, Any]]:
        """Set per-bank settings (keyword arguments named as the config fields: ``retain_extraction_mode="verbose"``,
        ``disposition_skepticism=4``, ...). None values are not sent. The server validates: an unknown field or a
        bad value raises ``BadRequestError`` naming it, and nothing is stored. Returns the config dict.
        """
        return Call("PATCH", bank_path(bank_id, "/config"), json={"updates": _not_none(**settings)})

    update_bank_config, aupdate_bank_config = _pair(_update_bank_config)

    def _reset_bank_config(self, bank_id: str) -> Call[dict[str, Any]]:
        """Remove every per-bank override; returns the config dict."""
        return Call("DELETE", bank_path(bank_id, "/config"))

    reset_bank_config, areset_bank_config = _pair(_reset_bank_config)

    # --- directives -------------------------------------------------------------------------------------------------

    def _create_directive(
        self,
        bank_id: str,
        name: str,
        content: str,
        priority: int = 0,
        is_active: bool = True,
        tags: list[str] | None = None,
    ) -> Call[m.DirectiveResponse]:
        """A rule reflect always follows for this bank (higher ``priority`` first; ``tags`` scope it)."""
        body = {"name": name, "content": content, "priority": priority, "is_active": is_active, "tags": tags}
        return Call("POST", bank_path(bank_id, "/directives"), json=body, parse=m.DirectiveResponse.from_dict)

    create_directive, acreate_directive = _pair(_create_directive)

    def _list_directives(
        self,
        bank_id: str,
        tags: list[str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        tags_match: str | None = None,
        active_only: bool | None = None,
    ) -> Call[m.DirectiveListResponse]:
        return Call.get(
            bank_path(bank_id, "/directives"),
            m.DirectiveListResponse.from_dict,
            tags=tags,
            tags_match=tags_match,
            active_only=active_only,
            limit=limit,
            offset=offset,
        )

    list_directives, alist_directives = _pair(_list_directives)

    def _get_directive(self, bank_id: str, directive_id: str) -> Call[m.DirectiveResponse]:
        return Call.get(bank_path(bank_id, "/directives/{}", directive_id), m.DirectiveResponse.from_dict)

    get_directive, aget_directive = _pair(_get_directive)

    def _update_directive(
        self,
        bank_id: str,
        directive_id: str,
        name: str | None = None,
        content: str | None = None,
        priority: int | None = None,
        is_active: bool | None = None,
        tags: list[str] | None = None,
    ) -> Call[m.DirectiveResponse]:
        """Change the fields given (None leaves a field as it is)."""
        body = _not_none(name=name, content=content, priority=priority, is_active=is_active, tags=tags)
        return Call(
            "PATCH",
            bank_path(bank_id, "/directives/{}", directive_id),
            json=body,
            parse=m.DirectiveResponse.from_dict,
        )

    update_directive, aupdate_directive = _pair(_update_directive)

    def _delete_directive(self, bank_id: str, directive_id: str) -> Call[Any]:
        return Call("DELETE", bank_path(bank_id, "/directives/{}", directive_id))

    delete_directive, adelete_directive = _pair(_delete_directive)

    # --- mental models ----------------------------------------------------------------------------------------------

    def _create_mental_model(
        self,
        bank_id: str,
        name: str,
        source_query: str,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> Call[m.CreateMentalModelResponse]:
        """A standing summary the server builds (and refreshes) by reflecting on ``source_query``."""
        body: dict[str, Any] = {"name": name, "source_query": source_query, "tags": tags, "max_tokens": max_tokens}
        if trigger:
            # Only the trigger settings the caller named: the server keeps the others as they are.
            body["trigger"] = dict(trigger)
        body["id"] = id
        return Call(
            "POST", bank_path(bank_id, "/mental-models"), json=body, parse=m.CreateMentalModelResponse.from_dict
        )

    create_mental_model, acreate_mental_model = _pair(_create_mental_model)

    def _list_mental_models(
        self,
        bank_id: str,
        tags: list[str] | None = None,
        tags_match: Literal["any", "all", "exact"] | None = None,
        detail: Literal["metadata", "content", "full"] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        exclude_knowledge_pages: bool | None = None,
    ) -> Call[m.MentalModelListResponse]:
        return Call.get(
            bank_path(bank_id, "/mental-models"),
            m.MentalModelListResponse.from_dict,
            tags=tags,
            tags_match=tags_match,
            detail=detail,
            limit=limit,
            offset=offset,
            exclude_knowledge_pages=exclude_knowledge_pages,
        )

    list_mental_models, alist_mental_models = _pair(_list_mental_models)

    def _get_mental_model(
        self, bank_id: str, mental_model_id: str, detail: Literal["metadata", "content", "full"] | None = None
    ) -> Call[m.MentalModelResponse]:
        return Call.get(
            bank_path(bank_id, "/mental-models/{}", mental_model_id), m.MentalModelResponse.from_dict, detail=detail
        )

    get_mental_model, aget_mental_model = _pair(_get_mental_model)

    def _refresh_mental_model(
        self, bank_id: str, mental_model_id: str, mode: Literal["full"] | None = None
    ) -> Call[m.AsyncOperationSubmitResponse]:
        """Queue a refresh; returns the ``operation_id`` to follow it with ``operations``."""
        call: Call[m.AsyncOperationSubmitResponse] = Call(
            "POST",
            bank_path(bank_id, "/mental-models/{}/refresh", mental_model_id),
            parse=m.AsyncOperationSubmitResponse.from_dict,
        )
        if mode:
            call.json = {"mode": mode}
        return call

    refresh_mental_model, arefresh_mental_model = _pair(_refresh_mental_model)

    def _dry_run_refresh_mental_model(self, bank_id: str, mental_model_id: str) -> Call[dict[str, Any]]:
        return Call("POST", bank_path(bank_id, "/mental-models/{}/dry-run-refresh", mental_model_id))

    dry_run_refresh_mental_model, adry_run_refresh_mental_model = _pair(_dry_run_refresh_mental_model)

    def _clear_mental_model(self, bank_id: str, mental_model_id: str) -> Call[m.MentalModelResponse]:
        return Call(
            "POST",
            bank_path(bank_id, "/mental-models/{}/clear", mental_model_id),
            parse=m.MentalModelResponse.from_dict,
        )

    clear_mental_model, aclear_mental_model = _pair(_clear_mental_model)

    def _update_mental_model(
        self,
        bank_id: str,
        mental_model_id: str,
        name: str | None = None,
        source_query: str | None = None,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
    ) -> Call[m.MentalModelResponse]:
        body = _not_none(name=name, source_query=source_query, tags=tags, max_tokens=max_tokens, trigger=trigger)
        return Call(
            "PATCH",
            bank_path(bank_id, "/mental-models/{}", mental_model_id),
            json=body,
            parse=m.MentalModelResponse.from_dict,
        )

    update_mental_model, aupdate_mental_model = _pair(_update_mental_model)

    def _delete_mental_model(self, bank_id: str, mental_model_id: str) -> Call[Any]:
        return Call("DELETE", bank_path(bank_id, "/mental-models/{}", mental_model_id))

    delete_mental_model, adelete_mental_model = _pair(_delete_mental_model)

    def _get_mental_model_history(self, bank_id: str, mental_model_id: str) -> Call[Any]:
        """Earlier contents: a list of ``{previous_content, changed_at}``."""
        return Call.get(bank_path(bank_id, "/mental-models/{}/history", mental_model_id))

    get_mental_model_history, aget_mental_model_history = _pair(_get_mental_model_history)

    # --- documents --------------------------------------------------------------------------------------------------

    def _list_documents(
        self,
        bank_id: str,
        q: str | None = None,
        tags: list[str] | None = None,
        tags_match: str | None = None,
        time_field: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Call[m.ListDocumentsResponse]:
        return Call.get(
            bank_path(bank_id, "/documents"),
            m.ListDocumentsResponse.from_dict,
            q=q,
            tags=tags,
            tags_match=tags_match,
            time_field=time_field,
            start_date=_iso(start_date),
            end_date=_iso(end_date),
            limit=limit,
            offset=offset,
        )

    list_documents, alist_documents = _pair(_list_documents)

    def _get_document(self, bank_id: str, document_id: str) -> Call[m.DocumentResponse]:
        """The document with its ``original_text`` (None when the bank does not store document text)."""
        return Call.get(bank_path(bank_id, "/documents/{}", document_id), m.DocumentResponse.from_dict)

    get_document, aget_document = _pair(_get_document)

    def _update_document(
        self,
        bank_id: str,
        document_id: str,
        tags: list[str] | None = None,
        observation_scopes: str | list[list[str]] | None = None,
    ) -> Call[m.UpdateDocumentResponse]:
        body = _not_none(tags=tags, observation_scopes=observation_scopes)
        return Call(
            "PATCH",
            bank_path(bank_id, "/documents/{}", document_id),
            json=body,
            parse=m.UpdateDocumentResponse.from_dict,
        )

    update_document, aupdate_document = _pair(_update_document)

    def _delete_document(self, bank_id: str, document_id: str) -> Call[m.DeleteDocumentResponse]:
        """Delete the document, its chunks and the memories extracted from it."""
        return Call(
            "DELETE", bank_path(bank_id, "/documents/{}", document_id), parse=m.DeleteDocumentResponse.from_dict
        )

    delete_document, adelete_document = _pair(_delete_document)

    def _list_document_chunks(
        self, bank_id: str, document_id: str, limit: int | None = None, offset: int | None = None
    ) -> Call[m.ListChunksResponse]:
        return Call.get(
            bank_path(bank_id, "/documents/{}/chunks", document_id),
            m.ListChunksResponse.from_dict,
            limit=limit,
            offset=offset,
        )

    list_document_chunks, alist_document_chunks = _pair(_list_document_chunks)

    # --- operations -------------------------------------------------------------------------------------------------

    def _list_operations(
        self,
        bank_id: str,
        status: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        exclude_parents: bool | None = None,
    ) -> Call[m.OperationsListResponse]:
        return Call.get(
            bank_path(bank_id, "/operations"),
            m.OperationsListResponse.from_dict,
            status=status,
            type=type,
            limit=limit,
            offset=offset,
            exclude_parents=exclude_parents,
        )

    list_operations, alist_operations = _pair(_list_operations)

    def _get_operation(
        self, bank_id: str, operation_id: str, include_payload: bool | None = None
    ) -> Call[m.OperationStatusResponse]:
        """The status of an async operation (``pending``, ``processing``, ``completed``, ``failed``, ...)."""
        return Call.get(
            bank_path(bank_id, "/operations/{}", operation_id),
            m.OperationStatusResponse.from_dict,
            include_payload=include_payload,
        )

    get_operation, aget_operation = _pair(_get_operation)

    def _cancel_operation(self, bank_id: str, operation_id: str) -> Call[m.OperationActionResponse]:
        return Call(
            "DELETE", bank_path(bank_id, "/operations/{}", operation_id), parse=m.OperationActionResponse.from_dict
        )

    cancel_operation, acancel_operation = _pair(_cancel_operation)

    def _retry_operation(self, bank_id: str, operation_id: str) -> Call[m.OperationActionResponse]:
        """Queue a failed operation again (the server decides whether it may)."""
        return Call(
            "POST",
            bank_path(bank_id, "/operations/{}/retry", operation_id),
            parse=m.OperationActionResponse.from_dict,
        )

    retry_operation, aretry_operation = _pair(_retry_operation)

    def _delete_operation(self, bank_id: str, operation_id: str) -> Call[m.OperationActionResponse]:
        """Delete a finished operation's record (``cancel_operation`` stops one that is running)."""
        return Call(
            "DELETE",
            bank_path(bank_id, "/operations/{}/delete", operation_id),
            parse=m.OperationActionResponse.from_dict,
        )

    delete_operation, adelete_operation = _pair(_delete_operation)

    def wait_for_operation(
        self, bank_id: str, operation_id: str, timeout: float = 300.0, poll_interval: float = 0.5
    ) -> m.OperationStatusResponse:
        """Poll until the operation is completed, failed or cancelled; ``HindsightError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get_operation(bank_id, operation_id)
            if status.status in _TERMINAL_OPERATION_STATES:
                return status
            if time.monotonic() >= deadline:
                raise HindsightError(f"operation {operation_id} still {status.status} after {timeout}s")
            time.sleep(poll_interval)

    async def await_operation(
        self, bank_id: str, operation_id: str, timeout: float = 300.0, poll_interval: float = 0.5
    ) -> m.OperationStatusResponse:
        """Async ``wait_for_operation``."""
        deadline = time.monotonic() + timeout
        while True:
            status = await self.aget_operation(bank_id, operation_id)
            if status.status in _TERMINAL_OPERATION_STATES:
                return status
            if time.monotonic() >= deadline:
                raise HindsightError(f"operation {operation_id} still {status.status} after {timeout}s")
            await asyncio.sleep(poll_interval)

    # --- knowledge base (raw JSON answers) --------------------------------------------------------------------------

    def _get_knowledge_base_tree(
        self,
        bank_id: str,
        tags: list[str] | None = None,
        tags_match: str | None = None,
        tag_groups: list[dict[str, Any]] | None = None,
    ) -> Call[dict[str, Any]]:
        return Call.get(
            bank_path(bank_id, "/knowledge-base/tree"),
            tags=tags,
            tags_match=tags_match,
            tag_groups=[tag_groups] if tag_groups is not None else None,
        )

    get_knowledge_base_tree, aget_knowledge_base_tree = _pair(_get_knowledge_base_tree)

    def _create_knowledge_folder(self, bank_id: str, name: str, parent_id: str | None = None) -> Call[dict[str, Any]]:
        return Call("POST", bank_path(bank_id, "/knowledge-base/folders"), json={"name": name, "parent_id": parent_id})

    create_knowledge_folder, acreate_knowledge_folder = _pair(_create_knowledge_folder)

    def _create_knowledge_page(
        self,
        bank_id: str,
        name: str,
        source_query: str,
        parent_id: str | None = None,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
    ) -> Call[dict[str, Any]]:
        body = {
            "name": name,
            "source_query": source_query,
            "parent_id": parent_id,
            "tags": tags,
            "max_tokens": max_tokens,
            "trigger": trigger,
        }
        return Call("POST", bank_path(bank_id, "/knowledge-base/pages"), json=body)

    create_knowledge_page, acreate_knowledge_page = _pair(_create_knowledge_page)

    def _get_knowledge_page(self, bank_id: str, page_id: str) -> Call[dict[str, Any]]:
        return Call.get(bank_path(bank_id, "/knowledge-base/pages/{}", page_id))

    get_knowledge_page, aget_knowledge_page = _pair(_get_knowledge_page)

    def _search_knowledge_base(
        self,
        bank_id: str,
        q: str,
        limit: int | None = None,
        tags: list[str] | None = None,
        tags_match: str | None = None,
        tag_groups: list[dict[str, Any]] | None = None,
    ) -> Call[dict[str, Any]]:
        return Call.get(
            bank_path(bank_id, "/knowledge-base/search"),
            q=q,
            limit=limit,
            tags=tags,
            tags_match=tags_match,
            tag_groups=[tag_groups] if tag_groups is not None else None,
        )

    search_knowledge_base, asearch_knowledge_base = _pair(_search_knowledge_base)

    _KEEP = object()

    def _update_knowledge_node(
        self,
        bank_id: str,
        node_id: str,
        name: str | None = None,
        parent_id: Any = _KEEP,
        source_query: str | None = None,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
    ) -> Call[dict[str, Any]]:
        """Only the fields passed are sent; ``parent_id=None`` moves the node to the root."""
        body = _not_none(name=name, source_query=source_query, tags=tags, max_tokens=max_tokens, trigger=trigger)
        if parent_id is not Hindsight._KEEP:
            body["parent_id"] = parent_id
        return Call("PATCH", bank_path(bank_id, "/knowledge-base/nodes/{}", node_id), json=body)

    update_knowledge_node, aupdate_knowledge_node = _pair(_update_knowledge_node)

    def _delete_knowledge_node(self, bank_id: str, node_id: str) -> Call[Any]:
        return Call("DELETE", bank_path(bank_id, "/knowledge-base/nodes/{}", node_id))

    delete_knowledge_node, adelete_knowledge_node = _pair(_delete_knowledge_node)

    def _export_knowledge_base(self, bank_id: str) -> Call[dict[str, Any]]:
        return Call.get(bank_path(bank_id, "/knowledge-base/export"))

    export_knowledge_base, aexport_knowledge_base = _pair(_export_knowledge_base)

    # --- transfer ---------------------------------------------------------------------------------------------------

    def _clone_bank(
        self,
        bank_id: str,
        target_bank_id: str,
        *,
        include_data: bool = True,
        include_bank_config: bool = True,
        include_history: bool = False,
    ) -> Call[str]:
        """Queue a copy of the bank into ``target_bank_id``; returns the operation id."""
        return Call(
            "POST",
            bank_path(bank_id, "/clone"),
            params=query(
                target_bank_id=target_bank_id,
                include_data=include_data,
                include_bank_config=include_bank_config,
                include_history=include_history,
            ),
            parse=lambda data: data["operation_id"],
        )

    clone_bank, aclone_bank = _pair(_clone_bank)

    def _import_bank(
        self,
        bank_id: str,
        archive: bytes,
        *,
        target_bank_id: str | None = None,
        include_data: bool = True,
        include_bank_config: bool = True,
        include_history: bool = False,
    ) -> Call[str]:
        """Queue the import of an archive made by ``export_bank``; returns the operation id."""
        return Call(
            "POST",
            bank_path(bank_id, "/transfer/import"),
            params=query(
                target_bank_id=target_bank_id,
                include_data=include_data,
                include_bank_config=include_bank_config,
                include_history=include_history,
            ),
            files={"file": ("bank.zip", archive, "application/zip")},
            parse=lambda data: data["operation_id"],
        )

    import_bank, aimport_bank = _pair(_import_bank)

    def export_bank(
        self,
        bank_id: str,
        *,
        include_data: bool = True,
        include_bank_config: bool = True,
        include_history: bool = False,
        poll_interval: float = 2.0,
        timeout: float = 300.0,
    ) -> bytes:
        """Export the bank as an archive: submit, wait for the operation, download."""
        params = query(
            include_data=include_data, include_bank_config=include_bank_config, include_history=include_history
        )
        submitted = self._conn.send(Call("POST", bank_path(bank_id, "/transfer/export"), params=params))
        return self._download(bank_id, submitted["operation_id"], poll_interval, timeout)

    async def aexport_bank(
        self,
        bank_id: str,
        *,
        include_data: bool = True,
        include_bank_config: bool = True,
        include_history: bool = False,
        poll_interval: float = 2.0,
        timeout: float = 300.0,
    ) -> bytes:
        return await asyncio.to_thread(
            self.export_bank,
            bank_id,
            include_data=include_data,
            include_bank_config=include_bank_config,
            include_history=include_history,
            poll_interval=poll_interval,
            timeout=timeout,
        )

    def export_documents(
        self,
        bank_id: str,
        document_ids: list[str] | None = None,
        include_observations: bool = False,
        include_knowledge_base: bool = False,
        *,
        poll_interval: float = 2.0,
        timeout: float = 300.0,
    ) -> bytes:
        """Export documents as an archive: submit, wait for the operation, download."""
        params = query(
            document_id=document_ids,
            include_observations=include_observations,
            include_knowledge_base=include_knowledge_base,
        )
        submitted = self._conn.send(Call("POST", bank_path(bank_id, "/document-transfer/export"), params=params))
        return self._download(bank_id, submitted["operation_id"], poll_interval, timeout)

    async def aexport_documents(
        self,
        bank_id: str,
        document_ids: list[str] | None = None,
        include_observations: bool = False,
        include_knowledge_base: bool = False,
        *,
        poll_interval: float = 2.0,
        timeout: float = 300.0,
    ) -> bytes:
        return await asyncio.to_thread(
            self.export_documents,
            bank_id,
            document_ids,
            include_observations,
            include_knowledge_base,
            poll_interval=poll_interval,
            timeout=timeout,
        )

    def _download(self, bank_id: str, operation_id: str, poll_interval: float, timeout: float) -> bytes:
        status = self.wait_for_operation(bank_id, operation_id, timeout=timeout, poll_interval=poll_interval)
        if status.status != "completed":
            raise HindsightError(f"export operation {operation_id} ended {status.status}: {status.error_message}")
        url = (status.result_metadata or {}).get("download_url")
        if not url:
            raise HindsightError(f"export operation {operation_id} completed without a download_url")
        if url.startswith(("http://", "https://")):
            # An absolute URL is usually pre-signed storage: our credentials are not for it.
            response = httpx.get(url, timeout=self._timeout)
            response.raise_for_status()
            return response.content
        return self._conn.send(Call("GET", url, raw=True, retry=True, headers={"Accept": "application/zip"}))


__all__ = ["Budget", "Hindsight", "TagsMatch"]
