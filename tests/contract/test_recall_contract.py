"""Recall through the real hindsight-client 1.1.0: the result iterates and has .results; arecall works."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_real_client_recalls_and_iterates(run_contract_script, bank_id):
    out = run_contract_script("recall", bank_id)
    assert out["iterated"] == out["results"]
    assert out["len"] == len(out["results"]) > 0
    assert out["first"] == out["results"][0]
    assert "Alice works at Google" in out["first"]
    assert out["scores"] == sorted(out["scores"], reverse=True)
    assert set(out["types"]) == {"world"}
    assert "Alice" in out["entities"]
    assert out["chunks"] >= 1
    assert "hiking" in out["dated_first"]
    assert any("Bob" in text for text in out["arecall"])
