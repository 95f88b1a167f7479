"""Every public method of the real SDK's ``Hindsight`` (sync and async) and of its namespaces is called by a
contract script against the live server: the other scripts call most of them with checks on the results;
``full_surface.py`` calls the rest (async twins, low-level calls, and the routes we do not offer, which must answer
501). The ``*_with_http_info`` / ``*_without_preload_content`` variants of the generated layer send the same request
as the method they wrap, so the wrapped method stands for them."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCRIPTS = REPO / "tests" / "contract" / "scripts"
VARIANTS = ("_with_http_info", "_without_preload_content")


def _called_elsewhere(name: str, namespace: str | None) -> bool:
    """Whether a contract script other than full_surface.py calls the method (``x.name(`` or ``x.ns.name(``)."""
    pattern = re.compile(rf"\.{re.escape(namespace)}\.{name}\(" if namespace else rf"\.{name}\(")
    return any(
        pattern.search(path.read_text())
        for path in SCRIPTS.glob("*.py")
        if path.name not in ("full_surface.py", "public_surface.py")
    )


def test_every_public_method_of_the_real_sdk_is_called_against_the_server(run_contract_script, bank_id):
    surface = run_contract_script("public_surface")
    called = set(run_contract_script("full_surface", bank_id)["called"])
    missing = []
    for name in surface["methods"]:
        if f"Hindsight.{name}" not in called and not _called_elsewhere(name, None):
            missing.append(f"Hindsight.{name}")
    for namespace, methods in surface["namespaces"].items():
        for name in methods:
            base = next((name[: -len(suffix)] for suffix in VARIANTS if name.endswith(suffix)), name)
            if f"{namespace}.{base}" in called or _called_elsewhere(base, namespace):
                continue
            # A namespace method the convenience layer wraps is called through it (client.list_documents → ...).
            if base in surface["methods"] and _called_elsewhere(base, None):
                continue
            missing.append(f"{namespace}.{base}")
    assert sorted(set(missing)) == []
