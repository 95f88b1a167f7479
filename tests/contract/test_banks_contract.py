"""The real hindsight-client 1.1.0 (from PyPI, in its own venv) drives every bank and config route over HTTP."""

import pytest

from banks.models import Bank

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_real_client_drives_banks_and_configuration(run_contract_script, bank_id):
    out = run_contract_script("banks_config", bank_id)

    assert out["create_bank"] == {
        "bank_id": bank_id,
        "name": "Contract Bank",
        "disposition": {"skepticism": 4, "literalism": 2, "empathy": 5},
        "mission": "I am a careful assistant",
        "background": None,
    }
    updated = out["update_bank_config"]
    assert updated["bank_id"] == bank_id
    assert updated["overrides"]["retain_extraction_mode"] == "verbose"
    assert updated["overrides"]["retain_mission"] == "Track technical decisions"
    assert updated["config"]["retain_chunk_size"] == 1500
    assert updated["config"]["disposition_empathy"] == 2
    assert updated["config"]["disposition_skepticism"] == 4
    assert updated["config"]["entity_labels"][0]["values"][1] == {"value": "socratic", "description": ""}
    assert out["get_bank_config"]["config"] == updated["config"]

    for rejection in ("rejected_mode", "rejected_range", "rejected_tool"):
        assert out[rejection] == {"status": 400, "message": "Bad Request"}, rejection
    assert out["after_rejections"] == out["get_bank_config"]

    assert out["reset_bank_config"]["overrides"] == {}
    assert out["reset_bank_config"]["config"]["retain_extraction_mode"] == "concise"
    assert out["missing_bank_config"]["status"] == 404
    assert out["version"]["api_version"] == "1.1.0"

    assert out["acreate_bank"]["mission"] == "Answer briefly"
    assert out["aupdate_bank_config"]["overrides"] == {"retain_chunk_size": 4000, "reflect_mission": "Answer briefly"}
    assert out["update_bank"]["name"] == "Renamed Async Bank"
    assert out["update_bank_disposition"]["disposition"] == {"skepticism": 1, "literalism": 5, "empathy": 3}
    assert out["get_bank_profile"] == out["update_bank_disposition"]
    listed = {bank["bank_id"]: bank for bank in out["list_banks"]["banks"]}
    assert set(listed) == {bank_id, f"{bank_id}-async"}
    assert out["list_banks"]["total"] == 2
    assert listed[f"{bank_id}-async"]["name"] == "Renamed Async Bank"
    assert out["health"]["status"] == "healthy"
    assert out["delete_async_bank"]["success"] is True
    assert out["delete_bank"]["success"] is True

    assert not Bank.objects.filter(bank_id__startswith=bank_id).exists()
