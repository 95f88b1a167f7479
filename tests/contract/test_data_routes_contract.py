"""The data routes through the real hindsight-client 1.1.0 over HTTP: the SDK's strict models parse every answer,
and what they hold is what the bank holds."""

import pytest

from memories.models import Document, MemoryUnit, Operation

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_real_client_browses_curates_and_deletes(run_contract_script, bank_id):
    out = run_contract_script("data_routes", bank_id)

    # memories/list, sync and async
    assert out["list"]["total"] == len(out["list_items"]) >= 4
    assert (out["list"]["limit"], out["list"]["offset"]) == (100, 0)
    violin = next(i for i in out["list_items"] if "violin" in i["text"])
    assert violin["document_id"] == "doc-alice" and violin["tags"] == ["team:a"]
    assert violin["metadata"] == {"source": "chat"} and "Alice" in violin["entities"].split(", ")
    assert set(out["list_by_doc"]) == {"notes/bob"}
    assert out["list_search"] == ["Alice plays the violin."]
    assert out["list_page"] == [i["id"] for i in out["list_items"][1:3]]
    assert out["alist_tags"] and all(tags == ["team:b"] for tags in out["alist_tags"])
    assert out["alist_type"] == 0
    assert out["list_missing_bank"] == 404

    # memories/{id}: get, curate (edit, invalidate), and another bank's view of the id
    assert out["get_memory"]["id"] == violin["id"] and out["get_memory"]["text"] == "Alice plays the violin."
    assert out["update_memory"]["text"] == "Alice plays the cello." and out["update_memory"]["edited_at"]
    assert out["invalidate"]["state"] == "invalidated"
    assert out["invalidate"]["invalidation_reason"] == "Alice changed jobs"
    assert out["invalidate"]["id"] not in out["recall_after_invalidate"]
    assert out["foreign_memory"] == 404

    # graph, tags, dry run
    assert out["graph"]["total_units"] == out["list"]["total"] - 1  # the invalidated fact is not drawn
    assert len(out["graph"]["nodes"]) == len(out["graph"]["table_rows"]) == out["graph"]["total_units"]
    assert {item["tag"] for item in out["tags"]["items"]} == {"team:a", "team:b"}
    assert [fact["text"] for fact in out["dry_run"]["facts"]] == ["Grace moved to Oslo.", "Grace adopted a dog."]
    assert out["dry_run"]["chunks"][0]["fact_count"] == 2
    assert out["after_dry_run_total"] == out["list"]["total"] - 1  # dry run stored nothing

    # documents and chunks
    assert out["documents"]["total"] == 2 and out["documents"]["total_is_estimate"] is False
    assert [d["id"] for d in out["documents"]["items"]] == ["notes/bob", "doc-alice"]
    assert out["documents_search"] == ["notes/bob"]
    assert out["document"]["id"] == "notes/bob" and "Lisbon" in out["document"]["original_text"]
    assert out["document"]["memory_unit_count"] == len(out["list_by_doc"])
    assert out["update_document"] == {"success": True}
    assert out["document_tags_after"] == ["team:b", "reviewed"]
    assert out["chunks"]["total"] == 1 and out["chunks"]["items"][0]["document_id"] == "notes/bob"
    assert out["chunk"] == out["chunks"]["items"][0]
    assert out["reprocess"]["success"] is True and out["reprocess"]["items_count"] == 1
    assert [event["kind"] for event in out["history"]["items"]] == ["reprocess"]
    assert out["history"]["items"][0]["operation_id"] == out["reprocess"]["operation_id"]
    assert out["foreign_document"] == 404

    # entities, stats
    names = [e["canonical_name"] for e in out["entities"]["items"]]
    assert names[0] == "Alice" and "Bob" in names
    assert out["entity"]["canonical_name"] == "Alice" and out["entity"]["observations"] == []
    assert out["entity_graph"]["edges"] and out["entity_graph"]["total_edges"] >= len(out["entity_graph"]["edges"])
    assert out["foreign_entity"] == 404
    assert out["stats"]["total_documents"] == 2 and out["stats"]["total_nodes"] == out["list"]["total"]
    assert out["stats"]["pending_operations"] == 1  # the reprocess waits for a worker
    assert out["timeseries"]["trunc"] == "hour"
    assert sum(bucket["world"] for bucket in out["timeseries"]["buckets"]) == out["list"]["total"]

    # deletes: a document, then every world fact; the other bank is untouched
    assert out["delete_document"]["document_id"] == "notes/bob"
    assert out["delete_document"]["memory_units_deleted"] == len(out["list_by_doc"])
    assert not any("motorcycles" in text for text in out["recall_after_delete"])
    assert out["deleted_document"] == 404
    assert out["clear_world"]["success"] is True and out["clear_world"]["deleted_count"] >= 1
    assert out["after_clear_total"] == 0
    assert out["other_bank_total"] == 1
    assert not MemoryUnit.objects.filter(bank__bank_id=bank_id).exists()
    assert not Document.objects.filter(bank__bank_id=bank_id, document_id="notes/bob").exists()
    assert Operation.objects.get(pk=out["reprocess"]["operation_id"]).operation_type == "reprocess"
