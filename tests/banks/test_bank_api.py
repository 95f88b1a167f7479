"""Bank and configuration routes: shapes per contract, lazy creation, validation that stores nothing on error."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from banks.models import Bank
from memories.models import MemoryUnit

pytestmark = pytest.mark.django_db

BANKS = "/v1/default/banks"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def put_bank(api, bank_id, **body):
    return api.put(f"{BANKS}/{bank_id}", body, format="json")


def patch_config(api, bank_id, updates):
    return api.patch(f"{BANKS}/{bank_id}/config", {"updates": updates}, format="json")


def test_put_with_an_empty_body_creates_a_bank_with_contract_shaped_profile(api):
    response = put_bank(api, "alice")
    assert response.status_code == 200
    assert response.json() == {
        "bank_id": "alice",
        "name": "",
        "disposition": {"skepticism": 3, "literalism": 3, "empathy": 3},
        "mission": "",
        "background": None,
    }
    assert Bank.objects.filter(bank_id="alice").exists()


def test_put_stores_profile_and_config_fields_and_updates_in_place(api):
    put_bank(api, "alice", name="Alice", mission="Be helpful", retain_mission="Prefs", enable_observations=False)
    response = put_bank(api, "alice", disposition={"skepticism": 5, "literalism": 1, "empathy": 2})
    assert response.json()["name"] == "Alice"
    assert response.json()["mission"] == "Be helpful"
    assert response.json()["disposition"] == {"skepticism": 5, "literalism": 1, "empathy": 2}
    overrides = api.get(f"{BANKS}/alice/config").json()["overrides"]
    assert overrides == {
        "retain_mission": "Prefs",
        "enable_observations": False,
        "reflect_mission": "Be helpful",
        "disposition_skepticism": 5,
        "disposition_literalism": 1,
        "disposition_empathy": 2,
    }
    assert Bank.objects.filter(bank_id="alice").count() == 1


def test_put_accepts_the_deprecated_background_and_disposition_ints(api):
    response = put_bank(api, "bob", background="I am Bob's assistant", disposition_empathy=5)
    assert response.json()["mission"] == "I am Bob's assistant"
    assert response.json()["disposition"]["empathy"] == 5


def test_put_with_an_out_of_range_trait_answers_422_and_creates_nothing(api):
    response = put_bank(api, "carol", disposition_skepticism=9)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "disposition_skepticism"]
    assert not Bank.objects.filter(bank_id="carol").exists()


def test_put_with_an_invalid_config_field_answers_400_and_creates_nothing(api):
    response = put_bank(api, "dave", retain_extraction_mode="shouty")
    assert response.status_code == 400
    assert "retain_extraction_mode" in response.json()["detail"]
    assert not Bank.objects.filter(bank_id="dave").exists()


def test_patch_bank_updates_the_name_only(api):
    put_bank(api, "erin", name="Erin", mission="Original")
    response = api.patch(f"{BANKS}/erin", {"name": "Erin B."}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Erin B."
    assert response.json()["mission"] == "Original"


def test_a_bank_id_that_is_too_long_is_refused(api):
    response = put_bank(api, "x" * 256)
    assert response.status_code == 400
    assert "at most 255" in response.json()["detail"]


def test_get_config_of_an_unknown_bank_is_404_with_detail(api):
    response = api.get(f"{BANKS}/nobody/config")
    assert response.status_code == 404
    assert response.json() == {"detail": "Bank 'nobody' not found"}


def test_patch_config_creates_the_bank_on_first_use(api):
    response = patch_config(api, "fresh", {"retain_chunk_size": 1200})
    assert response.status_code == 200
    body = response.json()
    assert body["bank_id"] == "fresh"
    assert body["overrides"] == {"retain_chunk_size": 1200}
    assert body["config"]["retain_chunk_size"] == 1200
    assert body["config"]["retain_extraction_mode"] == "concise"


def test_config_accepts_environment_style_keys_and_reports_python_names(api):
    response = patch_config(api, "envy", {"HINDSIGHT_API_RETAIN_EXTRACTION_MODE": "verbose"})
    assert response.json()["overrides"] == {"retain_extraction_mode": "verbose"}


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ({"retain_chunk_size": "big"}, "retain_chunk_size"),
        ({"not_a_setting": 1}, "not_a_setting"),
        ({"disposition_literalism": 0}, "disposition_literalism"),
        ({"entity_labels": [{"key": "mood", "type": "value"}]}, "entity_labels"),
        ({"retain_mission": "fine", "enable_reranking": "yes"}, "enable_reranking"),
    ],
)
def test_a_bad_update_answers_400_naming_the_field_and_stores_nothing(api, updates, field):
    patch_config(api, "strict", {"retain_chunk_size": 1500, "retain_mission": "before"})
    before = Bank.objects.get(bank_id="strict").get_overrides()
    response = patch_config(api, "strict", updates)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(field)
    assert Bank.objects.get(bank_id="strict").get_overrides() == before


def test_updates_must_be_an_object(api):
    response = api.patch(f"{BANKS}/shape/config", {"updates": ["retain_chunk_size"]}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "updates"]


def test_null_removes_one_override_and_keeps_the_others(api):
    patch_config(api, "partial", {"retain_chunk_size": 1500, "retain_mission": "keep me", "disposition_empathy": 1})
    response = patch_config(api, "partial", {"retain_chunk_size": None, "disposition_empathy": None})
    assert response.json()["overrides"] == {"retain_mission": "keep me"}
    assert response.json()["config"]["retain_chunk_size"] == 3000


def test_delete_config_resets_every_override(api):
    patch_config(api, "reset-me", {"retain_chunk_size": 1500, "disposition_skepticism": 5})
    response = api.delete(f"{BANKS}/reset-me/config")
    assert response.status_code == 200
    assert response.json()["overrides"] == {}
    assert response.json()["config"]["disposition_skepticism"] == 3
    bank = Bank.objects.get(bank_id="reset-me")
    assert bank.disposition_skepticism is None
    assert bank.config_overrides == {}


def test_delete_config_of_an_unknown_bank_is_404(api):
    assert api.delete(f"{BANKS}/ghost/config").status_code == 404
    assert not Bank.objects.filter(bank_id="ghost").exists()


def test_server_wide_defaults_show_in_the_resolved_config(api):
    from django.conf import settings

    defaults = {**settings.HINDSIGHT_CONFIG_DEFAULTS, "retain_chunk_size": 1234, "disposition_empathy": 5}
    with override_settings(HINDSIGHT_CONFIG_DEFAULTS=defaults):
        body = patch_config(api, "defaults", {"retain_mission": "x"}).json()
        profile = put_bank(api, "defaults").json()
    assert body["config"]["retain_chunk_size"] == 1234
    assert body["overrides"] == {"retain_mission": "x"}
    assert profile["disposition"]["empathy"] == 5


@override_settings(HINDSIGHT_ENABLE_BANK_CONFIG_API=False)
def test_a_disabled_config_api_refuses_writes_but_still_answers_reads(api):
    put_bank(api, "locked")
    assert patch_config(api, "locked", {"retain_chunk_size": 1000}).status_code == 404
    assert api.delete(f"{BANKS}/locked/config").status_code == 404
    assert api.get(f"{BANKS}/locked/config").status_code == 200


def test_profile_routes_read_and_write_the_disposition(api):
    assert api.get(f"{BANKS}/prof/profile").status_code == 404
    response = api.put(
        f"{BANKS}/prof/profile", {"disposition": {"skepticism": 2, "literalism": 4, "empathy": 1}}, format="json"
    )
    assert response.status_code == 200
    assert api.get(f"{BANKS}/prof/profile").json()["disposition"] == {"skepticism": 2, "literalism": 4, "empathy": 1}
    bad = api.put(f"{BANKS}/prof/profile", {"disposition": {"skepticism": 2}}, format="json")
    assert bad.status_code == 422


def test_list_banks_filters_pages_and_counts_facts(api):
    for bank_id in ("team-alpha", "team-beta", "solo"):
        put_bank(api, bank_id, name=bank_id.title())
    alpha = Bank.objects.get(bank_id="team-alpha")
    MemoryUnit.objects.create(bank=alpha, text="Alice likes tea")
    MemoryUnit.objects.create(bank=alpha, text="Bob likes coffee", fact_type="experience")
    MemoryUnit.objects.create(bank=alpha, text="People like drinks", fact_type="observation")

    body = api.get(BANKS, {"q": "TEAM", "limit": 1}).json()
    assert body["total"] == 2
    assert body["limit"] == 1
    assert len(body["banks"]) == 1
    everything = {b["bank_id"]: b for b in api.get(BANKS).json()["banks"]}
    assert everything["team-alpha"]["fact_count"] == 2
    assert everything["solo"]["fact_count"] == 0
    assert set(everything["solo"]) >= {"bank_id", "name", "disposition", "mission", "created_at", "fact_count"}


def test_list_banks_pages_without_a_query_per_bank(api, django_assert_max_num_queries):
    for index in range(12):
        put_bank(api, f"many-{index}")
    with django_assert_max_num_queries(3):  # whether any API key exists, count, page
        body = api.get(BANKS, {"q": "many-"}).json()
    assert body["total"] == 12


def test_list_banks_rejects_a_negative_limit_with_422(api):
    response = api.get(BANKS, {"limit": -1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_delete_bank_answers_delete_response_and_404_when_unknown(api):
    put_bank(api, "doomed")
    response = api.delete(f"{BANKS}/doomed")
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert api.delete(f"{BANKS}/doomed").status_code == 404


def test_health_reports_the_database(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["database"] == "connected"


def test_version_carries_every_feature_flag_as_a_boolean(api):
    body = api.get("/version").json()
    assert body["api_version"] == "1.1.0"
    assert set(body["features"]) == {
        "observations",
        "mcp",
        "worker",
        "bank_config_api",
        "bank_llm_health",
        "file_upload_api",
        "document_export_api",
        "document_import_api",
        "audit_log",
        "llm_trace",
        "store_document_text",
    }
    assert all(isinstance(value, bool) for value in body["features"].values())


def test_unknown_routes_and_malformed_json_answer_json_errors(api):
    missing = api.get("/v1/default/nothing-here")
    assert missing.status_code == 404
    assert "detail" in missing.json()
    broken = api.generic("PATCH", f"{BANKS}/x/config", "{not json", content_type="application/json")
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["detail"]
    assert not Bank.objects.filter(bank_id="x").exists()
