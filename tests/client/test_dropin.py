"""Our client is a drop-in for the real hindsight-client 1.1.0: the same public surface, and the same scenarios
(the contract scripts in tests/contract/scripts/) give the same results through both.

The real client runs in its own venv (``run_contract_script``); ours runs the very same script file in-process, where
``import hindsight_client`` is this repository's package.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import hindsight_client
from tests.conftest import REPO, require_locomo

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPTS = REPO / "tests" / "contract" / "scripts"


def run_script_with_our_client(script: Path, *argv: str) -> dict:
    """Run a contract script in this process (so it imports our client); return its last JSON line."""
    assert Path(hindsight_client.__file__).is_relative_to(REPO), "the in-process client must be ours"
    output = io.StringIO()
    # The scripts drive coroutines with asyncio.get_event_loop(), which needs a current loop in this thread.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with mock.patch.object(sys, "argv", [str(script), *argv]), contextlib.redirect_stdout(output):
            runpy.run_path(str(script), run_name="__main__")
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return json.loads(output.getvalue().strip().splitlines()[-1])


@pytest.fixture
def run_with_our_client(api_server):
    def run(name: str, *args: str) -> dict:
        return run_script_with_our_client(SCRIPTS / f"{name}.py", api_server, *args)

    return run


def renamed(value, old: str, new: str):
    """``value`` with every occurrence of the bank id ``old`` replaced by ``new`` (outputs embed their bank id)."""
    return json.loads(json.dumps(value).replace(old, new))


def differences(ours, real, where: str = "") -> list[str]:
    """Where two JSON values differ, as readable paths (a plain ``==`` failure hides the place in long outputs)."""
    if isinstance(ours, dict) and isinstance(real, dict):
        found = []
        for key in sorted(set(ours) | set(real), key=str):
            if key not in ours or key not in real:
                found.append(f"{where}/{key}: only in {'ours' if key in ours else 'real'}")
            else:
                found += differences(ours[key], real[key], f"{where}/{key}")
        return found
    if isinstance(ours, list) and isinstance(real, list) and len(ours) == len(real):
        return [d for i, (a, b) in enumerate(zip(ours, real, strict=True)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(ours, float) and isinstance(real, float):
        # Recency boosts move with the seconds between the two runs; far below any ranking difference.
        return [] if math.isclose(ours, real, rel_tol=1e-6, abs_tol=1e-9) else [f"{where}: ours {ours} != real {real}"]
    return [] if ours == real else [f"{where}: ours {ours!r} != real {real!r}"]


# --- the public surface ----------------------------------------------------------------------------------------------

#: Where ours deliberately differs. timeout: the issue asks for 30 s (upstream waits 300 s).
SURFACE_EXCEPTIONS = {("__init__", "timeout")}
#: Generated-layer variants returning upstream's ApiResponse wrappers; not offered.
GENERATED_VARIANTS = ("_with_http_info", "_without_preload_content")


def test_our_public_surface_covers_the_real_clients(hindsight_client_python):
    script = SCRIPTS / "public_surface.py"
    real = json.loads(
        subprocess.run(
            [str(hindsight_client_python), str(script)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    )
    ours = run_script_with_our_client(script)

    problems = []
    for name, theirs in real["methods"].items():
        mine = ours["methods"].get(name)
        if mine is None:
            problems.append(f"missing method {name}")
            continue
        if theirs["async"] != mine["async"]:
            problems.append(f"{name}: async {theirs['async']} upstream, {mine['async']} here")
        mine_by_name = {p[0]: p for p in mine["parameters"]}
        takes_any_keyword = any(kind == "VAR_KEYWORD" for _, kind, _ in mine["parameters"])
        positional = [p[0] for p in mine["parameters"] if p[1] == "POSITIONAL_OR_KEYWORD"]
        for index, (param, kind, default) in enumerate(theirs["parameters"]):
            if (name, param) in SURFACE_EXCEPTIONS:
                continue
            if param not in mine_by_name:
                if not (kind == "KEYWORD_ONLY" and takes_any_keyword):
                    problems.append(f"{name}: no parameter {param}")
                continue
            _, my_kind, my_default = mine_by_name[param]
            if kind == "POSITIONAL_OR_KEYWORD" and positional[index : index + 1] != [param]:
                problems.append(f"{name}: {param} is not positional argument {index}")
            if my_kind != kind and not (kind == "KEYWORD_ONLY" and my_kind == "POSITIONAL_OR_KEYWORD"):
                problems.append(f"{name}: {param} is {my_kind} here, {kind} upstream")
            if default != my_default and not (default == "<sentinel>" and my_default is not None):
                problems.append(f"{name}: {param} defaults to {my_default} here, {default} upstream")
        for param, kind, default in mine["parameters"]:
            upstream_names = {p[0] for p in theirs["parameters"]}
            if param not in upstream_names and kind not in ("KEYWORD_ONLY", "VAR_KEYWORD") and default is None:
                problems.append(f"{name}: extra required parameter {param}")

    for namespace, methods in real["namespaces"].items():
        mine = ours["namespaces"].get(namespace)
        if mine is None:
            problems.append(f"missing namespace {namespace}")
            continue
        for method, theirs in methods.items():
            if method.endswith(GENERATED_VARIANTS):
                continue
            if method not in mine:
                problems.append(f"missing {namespace}.{method}")
            elif mine[method]["async"] != theirs["async"]:
                problems.append(f"{namespace}.{method}: async differs")
    assert problems == []
    assert set(ours["namespaces"]) >= {"banks", "memory", "directives", "mental_models", "documents", "operations"}


# --- the scenarios, through both clients -----------------------------------------------------------------------------


def test_the_recall_scenario_gives_the_same_results_through_both_clients(
    run_contract_script, run_with_our_client, bank_id
):
    real = run_contract_script("recall", f"{bank_id}-real")
    ours = run_with_our_client("recall", f"{bank_id}-ours")
    assert differences(ours, real) == []
    assert "Alice works at Google" in ours["first"] and ours["len"] > 0


def test_the_banks_scenario_gives_the_same_results_through_both_clients(
    run_contract_script, run_with_our_client, bank_id
):
    real = run_contract_script("dropin_banks", f"{bank_id}-real")
    ours = run_with_our_client("dropin_banks", f"{bank_id}-ours")
    assert differences(renamed(ours, f"{bank_id}-ours", "BANK"), renamed(real, f"{bank_id}-real", "BANK")) == []
    assert ours["rejected"] == [400, 400, 404, 404]
    assert ours["create_bank"]["disposition"] == {"skepticism": 4, "literalism": 2, "empathy": 5}
    assert ours["recall"]["results"][0]["text"].startswith("Alice works at Google")
    assert "Alice" in ours["recall"]["entities"]
    assert ours["delete_bank"]["success"] is True


@pytest.mark.slow
def test_the_locomo_retain_scenario_gives_the_same_results_through_both_clients(
    run_contract_script, run_with_our_client, workers, bank_id
):
    locomo = require_locomo()
    workers("dropin")
    real = run_contract_script("retain_locomo", f"{bank_id}-real", str(locomo))
    ours = run_with_our_client("retain_locomo", f"{bank_id}-ours", str(locomo))

    def stable(out: dict, bank: str) -> dict:
        """The outputs without what differs between any two runs (operation ids and times)."""
        out = renamed(out, bank, "BANK")
        operation = out.pop("locomo_async_operation")
        out["locomo_async"].pop("operation_id")
        out["locomo_async"].pop("operation_ids", None)
        out["operation_status"] = operation["status"]["status"]
        out["operation_count"] = len(operation["list"]["operations"])
        return out

    assert differences(stable(ours, f"{bank_id}-ours"), stable(real, f"{bank_id}-real")) == []
    assert ours["locomo_async_operation"]["status"]["status"] == "completed"
