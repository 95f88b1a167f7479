"""Bank templates: export what makes a bank itself, import it elsewhere (validated whole, applied atomically)."""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework.test import APIClient

from directives.models import Directive, MentalModel
from memories.models import Operation

pytestmark = pytest.mark.django_db

MANIFEST = {
    "version": "1",
    "bank": {"retain_mission": "Extract customer issues.", "disposition_empathy": 5, "enable_observations": True},
    "directives": [{"name": "Be kind", "content": "Always respond with empathy.", "priority": 10}],
    "mental_models": [
        {
            "id": "sentiment",
            "name": "Customer sentiment",
            "source_query": "What is the overall sentiment trend?",
            "trigger": {"refresh_after_consolidation": True},
        }
    ],
}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def test_import_creates_the_bank_config_directives_and_queues_mental_model_content(api):
    response = api.post("/v1/default/banks/support/import", MANIFEST, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["bank_id"] == "support" and body["config_applied"] is True and body["dry_run"] is False
    assert body["directives_created"] == ["Be kind"] and body["directives_updated"] == []
    assert body["mental_models_created"] == ["sentiment"]
    assert len(body["operation_ids"]) == 1
    assert Operation.objects.get(pk=body["operation_ids"][0]).operation_type == "refresh_mental_model"
    config = api.get("/v1/default/banks/support/config").json()
    assert config["overrides"]["retain_mission"] == "Extract customer issues."
    assert config["overrides"]["disposition_empathy"] == 5
    assert Directive.objects.get(bank__bank_id="support").priority == 10


def test_export_then_import_elsewhere_reproduces_the_setup_and_reimport_updates_in_place(api):
    api.post("/v1/default/banks/source/import", MANIFEST, format="json")
    exported = api.get("/v1/default/banks/source/export").json()
    assert exported["version"] == "1"
    assert exported["bank"] == {
        "retain_mission": "Extract customer issues.",
        "disposition_empathy": 5,
        "enable_observations": True,
    }
    assert exported["directives"][0] == {
        "name": "Be kind",
        "content": "Always respond with empathy.",
        "priority": 10,
        "is_active": True,
        "tags": [],
    }
    assert exported["mental_models"][0]["id"] == "sentiment"
    assert exported["mental_models"][0]["trigger"] == {"refresh_after_consolidation": True}

    assert api.post("/v1/default/banks/copy/import", exported, format="json").status_code == 200
    assert api.get("/v1/default/banks/copy/export").json() == exported

    exported["directives"][0]["content"] = "Be warm."
    exported["mental_models"][0]["source_query"] = "How do customers feel?"
    again = api.post("/v1/default/banks/copy/import", exported, format="json").json()
    assert again["directives_updated"] == ["Be kind"] and again["directives_created"] == []
    assert again["mental_models_updated"] == ["sentiment"]
    assert len(again["operation_ids"]) == 1  # the changed query regenerates the content
    assert Directive.objects.filter(bank__bank_id="copy").count() == 1
    assert MentalModel.objects.get(bank__bank_id="copy").source_query == "How do customers feel?"


def test_a_dry_run_reports_the_plan_and_writes_nothing(api):
    body = api.post("/v1/default/banks/dry/import?dry_run=true", MANIFEST, format="json").json()
    assert body["dry_run"] is True
    assert body["directives_created"] == ["Be kind"] and body["mental_models_created"] == ["sentiment"]
    assert body["operation_ids"] == []
    assert api.get("/v1/default/banks/dry/config").status_code == 404
    assert not Directive.objects.exists()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"version": "2"}, "manifest.version"),
        ({"bank": {"retain_chunk_size": "big"}}, "manifest.bank.retain_chunk_size"),
        ({"bank": {"not_a_field": 1}}, "not_a_field"),
        ({"directives": [{"name": "x"}]}, "manifest.directives[0].content"),
        ({"mental_models": [{"id": "Bad Id", "name": "n", "source_query": "q"}]}, "manifest.mental_models[0].id"),
        ({"mental_models": [{"id": "m", "name": "n", "source_query": "q", "max_tokens": 10}]}, "max_tokens"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_problem_and_nothing_is_written(api, change, needle):
    # The valid directive comes first: validation covers the whole manifest before anything is written.
    manifest = {**MANIFEST, **change}
    response = api.post("/v1/default/banks/bad/import", manifest, format="json")
    assert response.status_code == 400, response.content
    assert needle in response.json()["detail"]
    assert api.get("/v1/default/banks/bad/config").status_code == 404
    assert not Directive.objects.exists() and not MentalModel.objects.exists()


def test_export_of_an_unknown_bank_is_404(api):
    assert api.get("/v1/default/banks/nobody/export").status_code == 404


def test_the_published_schema_accepts_an_export_and_rejects_a_bad_manifest(api):
    schema = api.get("/v1/bank-template-schema").json()
    api.post("/v1/default/banks/source/import", MANIFEST, format="json")
    jsonschema.validate(api.get("/v1/default/banks/source/export").json(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "1", "directives": [{"name": "no content"}]}, schema)
