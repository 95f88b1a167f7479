"""Namespaces on a ``Hindsight`` client: ``banks``, ``memories``, ``directives``, ``mental_models``, ``documents``,
``operations``, ``entities``, ``monitoring`` (and ``memory``).

Each namespace has two faces:

* short sync names with ``a``-prefixed async twins (``client.directives.create(...)``,
  ``await client.operations.aget(...)``), the shape the all-in-one ``hindsight`` package documents;
* the upstream SDK's low-level operation names, async only, as its generated API objects have them
  (``await client.operations.get_operation_status(bank_id, op_id)``,
  ``await client.banks.update_bank(bank_id, {"name": ...})``). Request objects may be dicts, our models or the
  upstream pydantic models; ``authorization=`` is sent as a header as there. ``client.memory`` is the low-level
  memory API (its ``reflect`` is async, as upstream), ``client.memories`` the friendly one.

Every method delegates to the client's own request builders, so a namespace call sends exactly what the matching
client method sends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hindsight_client import models as m
from hindsight_client._http import Call, bank_path, path, plain
from hindsight_client.client import _async_only, _pair

if TYPE_CHECKING:
    from hindsight_client.client import Hindsight


def _delegate(short: str, target: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``short``/``a<short>`` on a namespace, sending what ``Hindsight.<target>`` (a builder) sends."""
    from hindsight_client.client import Hindsight

    original = getattr(Hindsight, target)

    @functools.wraps(original)
    def build(self, *args, **kwargs):
        return original(self._client, *args, **kwargs)

    build.__name__ = "_" + short
    build.__qualname__ = "_" + short
    return _pair(build)


def _low_level(build: Callable[..., Call]) -> Callable[..., Any]:
    """An upstream-named async operation: accepts ``authorization=`` (sent as a header) and ignores the generated
    client's ``_request_timeout``/``_headers``-style keyword arguments.
    """

    @functools.wraps(build)
    def with_auth(self, *args, authorization: str | None = None, **kwargs):
        for key in [k for k in kwargs if k.startswith("_")]:
            kwargs.pop(key)
        call = build(self, *args, **kwargs)
        if authorization is not None:
            call.headers["Authorization"] = authorization
        return call

    return _async_only(with_auth)


class _Namespace:
    def __init__(self, client: Hindsight):
        self._client = client
        self._conn = client._conn

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class Banks(_Namespace):
    """Banks and their configuration."""

    list, alist = _delegate("list", "_list_banks")
    create, acreate = _delegate("create", "_create_bank")
    delete, adelete = _delegate("delete", "_delete_bank")
    get_config, aget_config = _delegate("get_config", "_get_bank_config")
    update_config, aupdate_config = _delegate("update_config", "_update_bank_config")
    reset_config, areset_config = _delegate("reset_config", "_reset_bank_config")
    set_mission, aset_mission = _delegate("set_mission", "_set_mission")

    def _get_profile(self, bank_id: str) -> Call[m.BankProfileResponse]:
        """Name, mission and disposition of the bank."""
        return Call.get(bank_path(bank_id, "/profile"), m.BankProfileResponse.from_dict)

    get_profile, aget_profile = _pair(_get_profile)

    def _update(self, bank_id: str, **fields: Any) -> Call[m.BankProfileResponse]:
        """Change some of the bank's fields (``PATCH``), e.g. ``name=``, ``mission=``."""
        body = {k: v for k, v in fields.items() if v is not None}
        return Call("PATCH", bank_path(bank_id), json=body, parse=m.BankProfileResponse.from_dict)

    update, aupdate = _pair(_update)

    # upstream low-level names (async)

    @_low_level
    def list_banks(self, q: str | None = None, limit: int | None = None, offset: int | None = None):
        return self._client._list_banks(q=q, limit=limit, offset=offset)

    @_low_level
    def create_or_update_bank(self, bank_id: str, create_bank_request: Any):
        return Call("PUT", bank_path(bank_id), json=plain(create_bank_request), parse=m.BankProfileResponse.from_dict)

    @_low_level
    def update_bank(self, bank_id: str, create_bank_request: Any):
        return Call("PATCH", bank_path(bank_id), json=plain(create_bank_request), parse=m.BankProfileResponse.from_dict)

    @_low_level
    def delete_bank(self, bank_id: str):
        return self._client._delete_bank(bank_id)

    @_low_level
    def get_bank_config(self, bank_id: str):
        return Call.get(bank_path(bank_id, "/config"), m.BankConfigResponse.from_dict)

    @_low_level
    def update_bank_config(self, bank_id: str, bank_config_update: Any):
        return Call(
            "PATCH",
            bank_path(bank_id, "/config"),
            json=plain(bank_config_update),
            parse=m.BankConfigResponse.from_dict,
        )

    @_low_level
    def reset_bank_config(self, bank_id: str):
        return Call("DELETE", bank_path(bank_id, "/config"), parse=m.BankConfigResponse.from_dict)

    @_low_level
    def get_bank_profile(self, bank_id: str):
        return self._get_profile(bank_id)

    @_low_level
    def update_bank_disposition(self, bank_id: str, update_disposition_request: Any):
        return Call(
            "PUT",
            bank_path(bank_id, "/profile"),
            json=plain(update_disposition_request),
            parse=m.BankProfileResponse.from_dict,
        )

    @_low_level
    def get_agent_stats(self, bank_id: str, refresh: bool | None = None):
        return Call.get(bank_path(bank_id, "/stats"), refresh=refresh)

    @_low_level
    def clear_observations(self, bank_id: str):
        return Call("DELETE", bank_path(bank_id, "/observations"), parse=m.DeleteResponse.from_dict)

    @_low_level
    def add_bank_background(self, bank_id: str, add_background_request: Any):
        return Call(
            "POST", bank_path(bank_id, "/background"), json=plain(add_background_request), parse=m.ApiObject.from_dict
        )

    @_low_level
    def get_memories_timeseries(self, bank_id: str, period: str | None = None, time_field: str | None = None):
        return Call.get(
            bank_path(bank_id, "/stats/memories-timeseries"),
            m.ApiObject.from_dict,
            period=period,
            time_field=time_field,
        )

    @_low_level
    def list_bank_aliases(self, bank_id: str):
        return Call.get(bank_path(bank_id, "/aliases"), m.ApiObject.from_dict)

    @_low_level
    def create_bank_alias(self, bank_id: str, create_bank_alias_request: Any):
        return Call(
            "POST", bank_path(bank_id, "/aliases"), json=plain(create_bank_alias_request), parse=m.ApiObject.from_dict
        )

    @_low_level
    def delete_bank_alias(self, bank_id: str, alias: str):
        return Call("DELETE", bank_path(bank_id, "/aliases/{}", alias), parse=m.ApiObject.from_dict)

    @_low_level
    def set_bank_alias_primary(self, bank_id: str, alias: str, set_bank_alias_primary_request: Any):
        return Call(
            "PATCH",
            bank_path(bank_id, "/aliases/{}", alias),
            json=plain(set_bank_alias_primary_request),
            parse=m.ApiObject.from_dict,
        )

    @_low_level
    def preview_prompt(self, bank_id: str, prompt_preview_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/prompts/preview"),
            json=plain(prompt_preview_request),
            parse=m.ApiObject.from_dict,
            retry=True,
        )

    @_low_level
    def trigger_consolidation(self, bank_id: str, consolidation_request: Any = None):
        call: Call[m.ApiObject] = Call("POST", bank_path(bank_id, "/consolidate"), parse=m.ApiObject.from_dict)
        if consolidation_request is not None:
            call.json = plain(consolidation_request)
        return call

    @_low_level
    def recover_consolidation(self, bank_id: str):
        return Call("POST", bank_path(bank_id, "/consolidation/recover"), parse=m.ApiObject.from_dict)

    @_low_level
    def test_bank_llm(self, bank_id: str):
        return Call("POST", bank_path(bank_id, "/health/llm"), parse=m.ApiObject.from_dict)


class Memories(_Namespace):
    """Retain, recall, reflect and list a bank's memories (friendly names; ``client.memory`` is the low-level API)."""

    retain, aretain = _delegate("retain", "_retain")
    retain_batch, aretain_batch = _delegate("retain_batch", "_retain_batch")
    recall, arecall = _delegate("recall", "_recall")
    reflect, areflect = _delegate("reflect", "_reflect")
    list, alist = _delegate("list", "_list_memories")
    get, aget = _delegate("get", "_get_memory")
    clear, aclear = _delegate("clear", "_clear_memories")


class Memory(_Namespace):
    """The upstream low-level memory API: every method is async and takes request objects."""

    @_low_level
    def retain_memories(self, bank_id: str, retain_request: Any):
        return Call(
            "POST", bank_path(bank_id, "/memories"), json=plain(retain_request), parse=m.RetainResponse.from_dict
        )

    @_low_level
    def recall_memories(self, bank_id: str, recall_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/memories/recall"),
            json=plain(recall_request),
            parse=m.RecallResponse.from_dict,
            retry=True,
        )

    @_low_level
    def reflect(self, bank_id: str, reflect_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/reflect"),
            json=plain(reflect_request),
            parse=m.ReflectResponse.from_dict,
            retry=True,
        )

    @_low_level
    def list_memories(self, bank_id: str, type: str | None = None, q: str | None = None, **filters: Any):
        return Call.get(
            bank_path(bank_id, "/memories/list"), m.ListMemoryUnitsResponse.from_dict, type=type, q=q, **filters
        )

    @_low_level
    def get_memory(self, bank_id: str, memory_id: str):
        return self._client._get_memory(bank_id, memory_id)

    @_low_level
    def clear_bank_memories(self, bank_id: str, type: str | None = None):
        return self._client._clear_memories(bank_id, type)

    @_low_level
    def list_tags(
        self,
        bank_id: str,
        q: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ):
        return Call.get(bank_path(bank_id, "/tags"), q=q, source=source, limit=limit, offset=offset)

    @_low_level
    def update_memory(self, bank_id: str, memory_id: str, update_memory_request: Any):
        return Call("PATCH", bank_path(bank_id, "/memories/{}", memory_id), json=plain(update_memory_request))

    @_low_level
    def get_observation_history(self, bank_id: str, memory_id: str):
        return Call.get(bank_path(bank_id, "/memories/{}/history", memory_id))

    @_low_level
    def clear_memory_observations(self, bank_id: str, memory_id: str):
        return Call("DELETE", bank_path(bank_id, "/memories/{}/observations", memory_id), parse=m.ApiObject.from_dict)

    @_low_level
    def dry_run_extract_memories(self, bank_id: str, dry_run_extract_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/memories/dry-run-extract"),
            json=plain(dry_run_extract_request),
            parse=m.ApiObject.from_dict,
            retry=True,
        )

    @_low_level
    def get_bank_attachment(self, bank_id: str, attachment_id: str):
        return Call("GET", bank_path(bank_id, "/attachments/{}", attachment_id), raw=True, retry=True)

    @_low_level
    def get_graph(self, bank_id: str, **filters: Any):
        return Call.get(bank_path(bank_id, "/graph"), m.ApiObject.from_dict, **filters)

    @_low_level
    def list_observation_scopes(self, bank_id: str, limit: int | None = None, offset: int | None = None):
        return Call.get(bank_path(bank_id, "/observations/scopes"), m.ApiObject.from_dict, limit=limit, offset=offset)

    @_low_level
    def preview_consolidation_strategies(self, bank_id: str, consolidation_strategies_preview_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/consolidation-strategies/preview"),
            json=plain(consolidation_strategies_preview_request),
            parse=m.ApiObject.from_dict,
            retry=True,
        )


class Directives(_Namespace):
    """Rules reflect follows for a bank."""

    create, acreate = _delegate("create", "_create_directive")
    list, alist = _delegate("list", "_list_directives")
    get, aget = _delegate("get", "_get_directive")
    update, aupdate = _delegate("update", "_update_directive")
    delete, adelete = _delegate("delete", "_delete_directive")

    @_low_level
    def create_directive(self, bank_id: str, create_directive_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/directives"),
            json=plain(create_directive_request),
            parse=m.DirectiveResponse.from_dict,
        )

    @_low_level
    def list_directives(self, bank_id: str, **filters: Any):
        return self._client._list_directives(bank_id, **filters)

    @_low_level
    def get_directive(self, bank_id: str, directive_id: str):
        return self._client._get_directive(bank_id, directive_id)

    @_low_level
    def update_directive(self, bank_id: str, directive_id: str, update_directive_request: Any):
        return Call(
            "PATCH",
            bank_path(bank_id, "/directives/{}", directive_id),
            json=plain(update_directive_request),
            parse=m.DirectiveResponse.from_dict,
        )

    @_low_level
    def delete_directive(self, bank_id: str, directive_id: str):
        return self._client._delete_directive(bank_id, directive_id)


class MentalModels(_Namespace):
    """Standing summaries the server keeps up to date."""

    def _create(
        self,
        bank_id: str,
        name: str,
        source_query: str | None = None,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
        id: str | None = None,
        *,
        content: str | None = None,
    ) -> Call[m.CreateMentalModelResponse]:
        """Create a mental model. ``content=`` (the all-in-one package's documented keyword, from before mental
        models were built from a query) is accepted as the source query: the server builds the model from it.
        """
        query = source_query if source_query is not None else content
        if query is None:
            raise TypeError("mental_models.create() needs source_query (or content)")
        return self._client._create_mental_model(bank_id, name, query, tags, max_tokens, trigger, id)

    create, acreate = _pair(_create)
    list, alist = _delegate("list", "_list_mental_models")
    get, aget = _delegate("get", "_get_mental_model")

    def _update(
        self,
        bank_id: str,
        mental_model_id: str,
        name: str | None = None,
        source_query: str | None = None,
        tags: list[str] | None = None,
        max_tokens: int | None = None,
        trigger: dict[str, Any] | None = None,
        *,
        content: str | None = None,
    ) -> Call[m.MentalModelResponse]:
        """Change the fields given; ``content=`` is accepted as the source query, as in ``create``."""
        query = source_query if source_query is not None else content
        return self._client._update_mental_model(bank_id, mental_model_id, name, query, tags, max_tokens, trigger)

    update, aupdate = _pair(_update)
    delete, adelete = _delegate("delete", "_delete_mental_model")
    refresh, arefresh = _delegate("refresh", "_refresh_mental_model")
    clear, aclear = _delegate("clear", "_clear_mental_model")
    history, ahistory = _delegate("history", "_get_mental_model_history")

    @_low_level
    def create_mental_model(self, bank_id: str, create_mental_model_request: Any):
        return Call(
            "POST",
            bank_path(bank_id, "/mental-models"),
            json=plain(create_mental_model_request),
            parse=m.CreateMentalModelResponse.from_dict,
        )

    @_low_level
    def list_mental_models(self, bank_id: str, **filters: Any):
        return self._client._list_mental_models(bank_id, **filters)

    @_low_level
    def get_mental_model(self, bank_id: str, mental_model_id: str, detail: str | None = None):
        return self._client._get_mental_model(bank_id, mental_model_id, detail)

    @_low_level
    def update_mental_model(self, bank_id: str, mental_model_id: str, update_mental_model_request: Any):
        return Call(
            "PATCH",
            bank_path(bank_id, "/mental-models/{}", mental_model_id),
            json=plain(update_mental_model_request),
            parse=m.MentalModelResponse.from_dict,
        )

    @_low_level
    def delete_mental_model(self, bank_id: str, mental_model_id: str):
        return self._client._delete_mental_model(bank_id, mental_model_id)

    @_low_level
    def refresh_mental_model(self, bank_id: str, mental_model_id: str, refresh_mental_model_request: Any = None):
        call = self._client._refresh_mental_model(bank_id, mental_model_id)
        if refresh_mental_model_request is not None:
            call.json = plain(refresh_mental_model_request)
        return call

    @_low_level
    def dry_run_refresh_mental_model(self, bank_id: str, mental_model_id: str):
        return self._client._dry_run_refresh_mental_model(bank_id, mental_model_id)

    @_low_level
    def clear_mental_model(self, bank_id: str, mental_model_id: str):
        return self._client._clear_mental_model(bank_id, mental_model_id)

    @_low_level
    def get_mental_model_history(self, bank_id: str, mental_model_id: str):
        return self._client._get_mental_model_history(bank_id, mental_model_id)


class Documents(_Namespace):
    """The documents memories were extracted from."""

    list, alist = _delegate("list", "_list_documents")
    get, aget = _delegate("get", "_get_document")
    update, aupdate = _delegate("update", "_update_document")
    delete, adelete = _delegate("delete", "_delete_document")
    chunks, achunks = _delegate("chunks", "_list_document_chunks")

    @_low_level
    def list_documents(self, bank_id: str, **filters: Any):
        return self._client._list_documents(bank_id, **filters)

    @_low_level
    def get_document(self, bank_id: str, document_id: str):
        return self._client._get_document(bank_id, document_id)

    @_low_level
    def update_document(self, bank_id: str, document_id: str, update_document_request: Any):
        return Call(
            "PATCH",
            bank_path(bank_id, "/documents/{}", document_id),
            json=plain(update_document_request),
            parse=m.UpdateDocumentResponse.from_dict,
        )

    @_low_level
    def delete_document(self, bank_id: str, document_id: str):
        return self._client._delete_document(bank_id, document_id)

    @_low_level
    def list_document_chunks(self, bank_id: str, document_id: str, limit: int | None = None, offset: int | None = None):
        return self._client._list_document_chunks(bank_id, document_id, limit, offset)

    @_low_level
    def get_document_history(self, bank_id: str, document_id: str, limit: int | None = None, offset: int | None = None):
        return Call.get(bank_path(bank_id, "/documents/{}/history", document_id), limit=limit, offset=offset)

    @_low_level
    def reprocess_document(self, bank_id: str, document_id: str):
        return Call("POST", bank_path(bank_id, "/documents/{}/reprocess", document_id))

    @_low_level
    def get_chunk(self, chunk_id: str):
        return Call.get(path("/v1/default/chunks/{}", chunk_id))


class Operations(_Namespace):
    """Background work (async retains, refreshes, exports): status, cancel, retry, delete."""

    list, alist = _delegate("list", "_list_operations")
    get, aget = _delegate("get", "_get_operation")
    cancel, acancel = _delegate("cancel", "_cancel_operation")
    retry, aretry = _delegate("retry", "_retry_operation")
    delete, adelete = _delegate("delete", "_delete_operation")

    def wait(self, bank_id: str, operation_id: str, timeout: float = 300.0, poll_interval: float = 0.5):
        """Poll until the operation is completed, failed or cancelled."""
        return self._client.wait_for_operation(bank_id, operation_id, timeout=timeout, poll_interval=poll_interval)

    async def await_(self, bank_id: str, operation_id: str, timeout: float = 300.0, poll_interval: float = 0.5):
        return await self._client.await_operation(bank_id, operation_id, timeout=timeout, poll_interval=poll_interval)

    @_low_level
    def list_operations(self, bank_id: str, **filters: Any):
        return self._client._list_operations(bank_id, **filters)

    @_low_level
    def get_operation_status(self, bank_id: str, operation_id: str, include_payload: bool | None = None):
        return self._client._get_operation(bank_id, operation_id, include_payload)

    @_low_level
    def cancel_operation(self, bank_id: str, operation_id: str):
        return self._client._cancel_operation(bank_id, operation_id)

    @_low_level
    def retry_operation(self, bank_id: str, operation_id: str):
        return self._client._retry_operation(bank_id, operation_id)

    @_low_level
    def delete_operation(self, bank_id: str, operation_id: str):
        return self._client._delete_operation(bank_id, operation_id)


class Entities(_Namespace):
    """The people, places and things a bank's memories mention."""

    def _list(self, bank_id: str, limit: int | None = None, offset: int | None = None, **filters: Any):
        return Call.get(
            bank_path(bank_id, "/entities"), m.EntityListResponse.from_dict, limit=limit, offset=offset, **filters
        )

    list, alist = _pair(_list)

    def _get(self, bank_id: str, entity_id: str, **filters: Any):
        return Call.get(bank_path(bank_id, "/entities/{}", entity_id), m.EntityDetailResponse.from_dict, **filters)

    get, aget = _pair(_get)

    def _graph(self, bank_id: str, limit: int | None = None, min_count: int | None = None, **filters: Any):
        return Call.get(bank_path(bank_id, "/entities/graph"), limit=limit, min_count=min_count, **filters)

    graph, agraph = _pair(_graph)

    @_low_level
    def list_entities(self, bank_id: str, **filters: Any):
        return self._list(bank_id, **filters)

    @_low_level
    def get_entity(self, bank_id: str, entity_id: str, **filters: Any):
        return self._get(bank_id, entity_id, **filters)

    @_low_level
    def get_entity_graph(self, bank_id: str, **filters: Any):
        return self._graph(bank_id, **filters)

    @_low_level
    def regenerate_entity_observations(self, bank_id: str, entity_id: str):
        return Call(
            "POST", bank_path(bank_id, "/entities/{}/regenerate", entity_id), parse=m.EntityDetailResponse.from_dict
        )


class Monitoring(_Namespace):
    """Health and version (unscoped routes)."""

    version, aversion = _delegate("version", "_get_version")
    health, ahealth = _delegate("health", "_health")

    @_low_level
    def health_endpoint_health_get(self):
        return Call.get("/health")

    @_low_level
    def get_version(self):
        return self._client._get_version()

    @_low_level
    def get_liveness(self):
        return Call.get("/health/live")

    @_low_level
    def get_readiness(self):
        return Call.get("/health/ready")

    @_low_level
    def metrics_endpoint_metrics_get(self):
        return Call.get("/metrics")


__all__ = [
    "Banks",
    "Directives",
    "Documents",
    "Entities",
    "Memories",
    "Memory",
    "MentalModels",
    "Monitoring",
    "Operations",
]
