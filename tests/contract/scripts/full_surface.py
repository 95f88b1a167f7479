"""Call, with the real SDK, every public method of ``Hindsight`` and of its namespaces that the other contract scripts
leave out: the async twins of the convenience methods, the low-level calls no convenience method reaches, and the
methods whose routes this server does not offer (each must fail with a 501 naming the feature). Results are checked,
not just the absence of exceptions.

Usage: python full_surface.py BASE_URL BANK_ID. Prints {"called": [...]} (``Hindsight.x`` and ``namespace.x``).
"""

import asyncio
import json
import sys
import tempfile

from hindsight_client_api.exceptions import ApiException

from hindsight_client import Hindsight

base_url, bank = sys.argv[1], sys.argv[2]
called: set[str] = set()


def mark(name: str) -> None:
    called.add(name)


def expect_501(name: str, call) -> None:
    """The route is in the contract but not offered here: the SDK surfaces our 501 and its detail."""
    try:
        result = call()
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except ApiException as exc:
        assert exc.status == 501, (name, exc.status, exc.body)
        assert json.loads(exc.body)["detail"], (name, exc.body)
    else:
        raise AssertionError(f"{name} should have failed with 501")
    mark(name)


async def expect_501_async(name: str, call) -> None:
    try:
        await call()
    except ApiException as exc:
        assert exc.status == 501, (name, exc.status, exc.body)
        assert json.loads(exc.body)["detail"], (name, exc.body)
    else:
        raise AssertionError(f"{name} should have failed with 501")
    mark(name)


# --- sync convenience methods the other scripts do not call ---------------------------------------------------------

client = Hindsight(base_url=base_url)
with client as entered:  # __enter__ / __exit__
    assert entered is client
    mark("Hindsight.__enter__")
    profile = client.set_mission(bank, "Track the team's projects.")
    mark("Hindsight.set_mission")
    assert profile.bank_id == bank and profile.mission == "Track the team's projects.", profile
    profile = client.set_reflect_mission(bank, "Answer as the team's archivist.")
    mark("Hindsight.set_reflect_mission")
    assert profile.mission == "Answer as the team's archivist.", profile
    assert client.get_bank_config(bank)["config"]["reflect_mission"] == "Answer as the team's archivist."

    with client.suspend_retains():  # sends nothing
        suspended = client.retain(bank, "This is never stored.")
        assert suspended.items_count == 0, suspended
    mark("Hindsight.suspend_retains")
    assert not [m for m in client.list_memories(bank).items if "never stored" in m.text]

    # Routes of the contract this server does not offer: a 501 with a detail, surfaced by the SDK.
    expect_501("Hindsight.clone_bank", lambda: client.clone_bank(bank, f"{bank}-clone"))
    expect_501("Hindsight.export_bank", lambda: client.export_bank(bank, timeout=5))
    expect_501("Hindsight.export_documents", lambda: client.export_documents(bank, timeout=5))
    with tempfile.NamedTemporaryFile("wb", suffix=".zip") as archive:
        archive.write(b"PK\x05\x06" + b"\x00" * 18)
        archive.flush()
        expect_501("Hindsight.import_bank", lambda: client.import_bank(bank, archive.name))
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as upload:
        upload.write("hello")
        upload.flush()
        expect_501("Hindsight.retain_files", lambda: client.retain_files(bank, [upload.name]))
    expect_501("Hindsight.get_knowledge_base_tree", lambda: client.get_knowledge_base_tree(bank))
    expect_501("Hindsight.create_knowledge_folder", lambda: client.create_knowledge_folder(bank, "Projects"))
    expect_501("Hindsight.create_knowledge_page", lambda: client.create_knowledge_page(bank, "Alice", "Who is Alice?"))
    expect_501("Hindsight.get_knowledge_page", lambda: client.get_knowledge_page(bank, "p1"))
    expect_501("Hindsight.update_knowledge_node", lambda: client.update_knowledge_node(bank, "n1", name="x"))
    expect_501("Hindsight.delete_knowledge_node", lambda: client.delete_knowledge_node(bank, "n1"))
    expect_501("Hindsight.export_knowledge_base", lambda: client.export_knowledge_base(bank))
    expect_501("Hindsight.search_knowledge_base", lambda: client.search_knowledge_base(bank, "Alice"))
mark("Hindsight.__exit__")
client.close()
mark("Hindsight.close")
mark("Hindsight.__init__")


# --- async twins of the convenience methods --------------------------------------------------------------------------


async def async_twins() -> None:
    client = Hindsight(base_url=base_url)
    other = f"{bank}-async"
    created = await client.acreate_bank(other, name="Async", mission="Remember the async team.")
    mark("Hindsight.acreate_bank")
    assert created.bank_id == other and created.name == "Async", created

    retained = await client.aretain(other, "Alice leads the async team in Berlin.", document_id="a-doc", tags=["t1"])
    mark("Hindsight.aretain")
    assert retained.success and retained.items_count == 1, retained
    batch = await client.aretain_batch(other, [{"content": "Bob joined the async team in May 2024."}])
    mark("Hindsight.aretain_batch")
    assert batch.items_count == 1, batch

    memories = await client.alist_memories(other)
    mark("Hindsight.alist_memories")
    texts = [item.text for item in memories.items]
    assert any("Alice" in text for text in texts) and any("Bob" in text for text in texts), texts

    recalled = await client.arecall(other, "Who leads the async team?")
    mark("Hindsight.arecall")
    assert recalled.results and "Alice" in recalled.results[0].text, recalled

    reflected = await client.areflect(other, "Who leads the async team?", include_facts=True)
    mark("Hindsight.areflect")
    assert reflected.text and reflected.based_on is not None, reflected

    config = await client.aupdate_bank_config(other, retain_chunk_size=1234)
    mark("Hindsight.aupdate_bank_config")
    assert config["overrides"]["retain_chunk_size"] == 1234, config
    config = await client.aget_bank_config(other)
    mark("Hindsight.aget_bank_config")
    assert config["config"]["retain_chunk_size"] == 1234, config
    config = await client.areset_bank_config(other)
    mark("Hindsight.areset_bank_config")
    assert "retain_chunk_size" not in config["overrides"], config

    profile = await client.aset_mission(other, "A new mission.")
    mark("Hindsight.aset_mission")
    assert profile.mission == "A new mission.", profile
    profile = await client.aset_reflect_mission(other, "A reflect mission.")
    mark("Hindsight.aset_reflect_mission")
    assert profile.mission == "A reflect mission.", profile

    directive = await client.acreate_directive(other, "Polite", "Always be polite.", priority=3, tags=["t1"])
    mark("Hindsight.acreate_directive")
    assert directive.name == "Polite" and directive.priority == 3, directive
    listed = await client.alist_directives(other)
    mark("Hindsight.alist_directives")
    assert [d.id for d in listed.items] == [directive.id], listed
    fetched = await client.aget_directive(other, directive.id)
    mark("Hindsight.aget_directive")
    assert fetched.content == "Always be polite.", fetched
    updated = await client.aupdate_directive(other, directive.id, content="Be very polite.", is_active=False)
    mark("Hindsight.aupdate_directive")
    assert updated.content == "Be very polite." and updated.is_active is False, updated
    await client.adelete_directive(other, directive.id)
    mark("Hindsight.adelete_directive")
    assert (await client.alist_directives(other)).items == []

    model = await client.acreate_mental_model(other, "Team", "Who is on the async team?", tags=["t1"])
    mark("Hindsight.acreate_mental_model")
    model_id = model.mental_model_id
    assert model_id and model.operation_id, model
    models = await client.alist_mental_models(other)
    mark("Hindsight.alist_mental_models")
    assert [m.id for m in models.items] == [model_id], models
    got = await client.aget_mental_model(other, model_id)
    mark("Hindsight.aget_mental_model")
    assert got.name == "Team" and got.source_query == "Who is on the async team?", got
    renamed = await client.aupdate_mental_model(other, model_id, name="Async team")
    mark("Hindsight.aupdate_mental_model")
    assert renamed.name == "Async team", renamed
    refreshed = await client.arefresh_mental_model(other, model_id)
    mark("Hindsight.arefresh_mental_model")
    assert refreshed.operation_id, refreshed
    dry = await client.adry_run_refresh_mental_model(other, model_id)
    mark("Hindsight.adry_run_refresh_mental_model")
    assert dry is not None
    cleared = await client.aclear_mental_model(other, model_id)
    mark("Hindsight.aclear_mental_model")
    assert not cleared.content, cleared
    history = await client.aget_mental_model_history(other, model_id)
    mark("Hindsight.aget_mental_model_history")
    assert isinstance(history, list), history
    await client.adelete_mental_model(other, model_id)
    mark("Hindsight.adelete_mental_model")
    assert (await client.alist_mental_models(other)).items == []

    version = await client.aget_version()
    mark("Hindsight.aget_version")
    assert version.api_version == "1.1.0" and version.features.worker is True, version

    await expect_501_async("Hindsight.aclone_bank", lambda: client.aclone_bank(other, f"{other}-clone"))
    await expect_501_async("Hindsight.aexport_bank", lambda: client.aexport_bank(other, timeout=5))
    await expect_501_async("Hindsight.aexport_documents", lambda: client.aexport_documents(other, timeout=5))
    await expect_501_async("Hindsight.aget_knowledge_base_tree", lambda: client.aget_knowledge_base_tree(other))
    await expect_501_async("Hindsight.acreate_knowledge_folder", lambda: client.acreate_knowledge_folder(other, "P"))
    await expect_501_async(
        "Hindsight.acreate_knowledge_page", lambda: client.acreate_knowledge_page(other, "A", "Who is A?")
    )
    await expect_501_async("Hindsight.aget_knowledge_page", lambda: client.aget_knowledge_page(other, "p1"))
    await expect_501_async(
        "Hindsight.aupdate_knowledge_node", lambda: client.aupdate_knowledge_node(other, "n1", name="x")
    )
    await expect_501_async("Hindsight.adelete_knowledge_node", lambda: client.adelete_knowledge_node(other, "n1"))
    await expect_501_async("Hindsight.aexport_knowledge_base", lambda: client.aexport_knowledge_base(other))
    await expect_501_async("Hindsight.asearch_knowledge_base", lambda: client.asearch_knowledge_base(other, "A"))
    with tempfile.NamedTemporaryFile("wb", suffix=".zip") as archive:
        archive.write(b"PK\x05\x06" + b"\x00" * 18)
        archive.flush()
        await expect_501_async("Hindsight.aimport_bank", lambda: client.aimport_bank(other, archive.name))
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as upload:
        upload.write("hello")
        upload.flush()
        await expect_501_async("Hindsight.aretain_files", lambda: client.aretain_files(other, [upload.name]))

    deleted = await client.adelete_bank(other)
    mark("Hindsight.adelete_bank")
    assert deleted is None or getattr(deleted, "success", True), deleted
    assert other not in [b.bank_id for b in (await client.banks.list_banks()).banks]
    await client.aclose()
    mark("Hindsight.aclose")


asyncio.run(async_twins())


# --- low-level namespace calls no convenience method reaches ---------------------------------------------------------


async def low_level() -> None:
    from hindsight_client_api.models import (
        AddBackgroundRequest,
        ConsolidationStrategiesPreviewRequest,
        Content,
        CreateBankAliasRequest,
        CreateBankRequest,
        MemoryItem,
        PromptPreviewRequest,
        RecallRequest,
        RetainRequest,
        SetBankAliasPrimaryRequest,
    )

    def item(text: str) -> MemoryItem:
        return MemoryItem(content=Content(actual_instance=text))

    client = Hindsight(base_url=base_url)
    low = f"{bank}-low"
    profile = await client.banks.create_or_update_bank(low, CreateBankRequest(name="Low level"))
    mark("banks.create_or_update_bank")
    assert profile.bank_id == low and profile.name == "Low level", profile

    retained = await client.memory.retain_memories(low, RetainRequest(items=[item("Carol runs the Lisbon office.")]))
    mark("memory.retain_memories")
    assert retained.success and retained.items_count == 1, retained
    recalled = await client.memory.recall_memories(low, RecallRequest(query="Who runs the Lisbon office?"))
    mark("memory.recall_memories")
    assert recalled.results and "Carol" in recalled.results[0].text, recalled

    preview = await client.banks.preview_prompt(low, PromptPreviewRequest(operation="reflect"))
    mark("banks.preview_prompt")
    assert preview.messages and preview.messages[0].role == "system", preview

    probe = await client.banks.test_bank_llm(low)
    mark("banks.test_bank_llm")
    assert probe.bank_id == low and probe.operations, probe

    queued = await client.memory.retain_memories(low, RetainRequest(items=[item("Dan visits Lisbon.")], var_async=True))
    operation_id = queued.operation_id
    assert operation_id, queued
    cancelled = await client.operations.cancel_operation(low, operation_id)
    mark("operations.cancel_operation")
    assert cancelled.success and cancelled.operation_id == operation_id, cancelled
    status = await client.operations.get_operation_status(low, operation_id)
    assert status.status == "cancelled", status
    retried = await client.operations.retry_operation(low, operation_id)
    mark("operations.retry_operation")
    assert retried.success and retried.operation_id == operation_id, retried
    await client.operations.cancel_operation(low, operation_id)
    removed = await client.operations.delete_operation(low, operation_id)
    mark("operations.delete_operation")
    assert removed.success, removed
    remaining = await client.operations.list_operations(low)
    assert operation_id not in [op.id for op in remaining.operations], remaining

    live = await client.monitoring.get_liveness()
    mark("monitoring.get_liveness")
    assert live.status == "alive", live
    ready = await client.monitoring.get_readiness()
    mark("monitoring.get_readiness")
    assert (ready["status"] if isinstance(ready, dict) else ready.status) == "healthy", ready
    metrics = await client.monitoring.metrics_endpoint_metrics_get()
    mark("monitoring.metrics_endpoint_metrics_get")
    assert "hindsight_http_request_duration_seconds" in str(metrics), str(metrics)[:500]

    await expect_501_async("banks.list_bank_aliases", lambda: client.banks.list_bank_aliases(low))
    await expect_501_async("banks.delete_bank_alias", lambda: client.banks.delete_bank_alias(low, "alias"))
    await expect_501_async(
        "banks.create_bank_alias", lambda: client.banks.create_bank_alias(low, CreateBankAliasRequest(alias="x"))
    )
    await expect_501_async(
        "banks.set_bank_alias_primary",
        lambda: client.banks.set_bank_alias_primary(low, "x", SetBankAliasPrimaryRequest(primary=True)),
    )
    await expect_501_async(
        "banks.add_bank_background",
        lambda: client.banks.add_bank_background(low, AddBackgroundRequest(content="Background.")),
    )
    await expect_501_async(
        "memory.preview_consolidation_strategies",
        lambda: client.memory.preview_consolidation_strategies(
            low, ConsolidationStrategiesPreviewRequest(strategies=[])
        ),
    )
    await expect_501_async("memory.get_bank_attachment", lambda: client.memory.get_bank_attachment(low, "att-1"))

    await client.banks.delete_bank(low)
    await client.aclose()


asyncio.run(low_level())
print(json.dumps({"called": sorted(called)}))
