"""Our OpenAPI document: served at /openapi.json with a docs page, committed as openapi.json, and in agreement with
the 1.1.0 contract for every route we share with it (paths, methods, field names and types, status codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hindsight_site import openapi
from hindsight_site.api.unserved import UNSERVED

CONTRACT_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "hindsight-openapi-1.1.0.json"

# Where we deliberately differ from the contract on a shared route: (method, path, aspect) -> reason.
ALLOWED_DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("get", "/version", "response"): "We add `server_version` (our own release) beside the contract's `api_version`.",
    ("post", "/v1/default/banks/{bank_id}/entities/{entity_id}/regenerate", "status"): (
        "Entity observations are retired (upstream too): we answer 410 with a detail instead of a 200."
    ),
    ("post", "/v1/default/banks/{bank_id}/entities/{entity_id}/regenerate", "response"): "410, no success body.",
    ("get", "/v1/default/chunks/{chunk_id}", "response"): (
        "This server stores no attachments, so chunks carry no optional `attachments` list."
    ),
    ("post", "/v1/default/banks/{bank_id}/mental-models/{mental_model_id}/dry-run-refresh", "response"): (
        "Declared as a free-form object: we run full refreshes only, so the delta fields are never filled."
    ),
}


def _contract() -> dict:
    if not CONTRACT_PATH.exists():
        pytest.skip(f"{CONTRACT_PATH} is not beside the repository")
    return json.loads(CONTRACT_PATH.read_text())


@pytest.fixture(scope="module")
def ours() -> dict:
    return openapi.generate()


# --- schema helpers -------------------------------------------------------------------------------------------------


def _resolve(doc: dict, schema):
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        seen += 1
    return schema


def _types(doc: dict, schema) -> set[str]:
    """The JSON types a schema allows, null left out; {"any"} when it does not constrain the type."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return {"any"}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            found: set[str] = set()
            for option in schema[key]:
                found |= _types(doc, option)
            return (found - {"null"}) or {"null"}
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _types(doc, schema["allOf"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        return (set(kind) - {"null"}) or {"null"}
    if kind:
        return {kind}
    if "properties" in schema:
        return {"object"}
    if "enum" in schema:
        return {"string"}
    return {"any"}


def _properties(doc: dict, schema) -> dict[str, set[str]] | None:
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found = _properties(doc, option)
            if found:
                return found
    if "properties" in schema:
        return {name: _types(doc, value) for name, value in schema["properties"].items()}
    return None


def _json_schema(content: dict | None):
    return ((content or {}).get("application/json") or {}).get("schema")


def _success(operation: dict) -> tuple[str | None, dict | None]:
    for code in sorted(operation.get("responses", {})):
        if code.startswith("2"):
            return code, _json_schema(operation["responses"][code].get("content"))
    return None, None


def _compatible(theirs: set[str], mine: set[str]) -> bool:
    return theirs == mine or "any" in theirs or "any" in mine or (theirs == {"number"} and mine == {"integer"})


def _compare_fields(what: str, contract: dict, theirs, ours_doc: dict, mine) -> list[str]:
    their_fields = _properties(contract, theirs) if theirs is not None else None
    my_fields = _properties(ours_doc, mine) if mine is not None else None
    if not their_fields:  # the contract leaves it open: nothing to match
        return []
    if my_fields is None:
        return [f"{what}: the contract declares fields {sorted(their_fields)}, we declare none"]
    problems = []
    if set(their_fields) != set(my_fields):
        problems.append(
            f"{what}: missing {sorted(set(their_fields) - set(my_fields))}, "
            f"extra {sorted(set(my_fields) - set(their_fields))}"
        )
    for name in sorted(set(their_fields) & set(my_fields)):
        if not _compatible(their_fields[name], my_fields[name]):
            problems.append(f"{what}.{name}: contract {sorted(their_fields[name])}, ours {sorted(my_fields[name])}")
    return problems


def _operations(doc: dict):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def _unserved_paths() -> set[str]:
    import re

    return {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route, _feature in UNSERVED}


# --- tests ----------------------------------------------------------------------------------------------------------


def test_the_committed_openapi_document_is_current(ours):
    committed = openapi.COMMITTED.read_text() if openapi.COMMITTED.exists() else ""
    assert openapi.render(ours) == committed, (
        f"openapi.json differs from what the views generate; regenerate with: {openapi.REGENERATE}"
    )


def test_openapi_json_and_the_docs_page_are_served(client):
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["paths"].keys() == json.loads(openapi.COMMITTED.read_text())["paths"].keys()
    docs = client.get("/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "/openapi.json" in page
    # Swagger UI comes from the installed sidecar package through staticfiles, never a CDN.
    assert "cdn." not in page and "/static/drf_spectacular_sidecar/" in page
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200


def test_every_contract_route_we_serve_is_in_our_document_and_only_those_are_missing(ours):
    contract = _contract()
    unserved = _unserved_paths()
    mine = {(path, method) for path, method, _ in _operations(ours)}
    missing = sorted(
        (method.upper(), path)
        for path, method, _ in _operations(contract)
        if (path, method) not in mine and path not in unserved
    )
    assert missing == []


def test_shared_routes_match_the_contracts_fields_types_and_status_codes(ours):
    contract = _contract()
    used_allowances = set()
    problems: list[str] = []
    for path, method, theirs in _operations(contract):
        mine = ours["paths"].get(path, {}).get(method)
        if mine is None:
            continue

        def allowed(aspect: str, method=method, path=path) -> bool:
            key = (method, path, aspect)
            if key in ALLOWED_DIFFERENCES:
                used_allowances.add(key)
                return True
            return False

        label = f"{method.upper()} {path}"
        request_problems = _compare_fields(
            f"{label} request",
            contract,
            _json_schema((theirs.get("requestBody") or {}).get("content")),
            ours,
            _json_schema((mine.get("requestBody") or {}).get("content")),
        )
        if request_problems and not allowed("request"):
            problems += request_problems
        their_code, their_body = _success(theirs)
        my_code, my_body = _success(mine)
        missing_codes = sorted(set(theirs["responses"]) - set(mine["responses"]))
        if (their_code != my_code or missing_codes) and not allowed("status"):
            problems.append(f"{label}: success {their_code} vs ours {my_code}; codes we do not declare {missing_codes}")
        response_problems = _compare_fields(f"{label} response", contract, their_body, ours, my_body)
        if response_problems and not allowed("response"):
            problems += response_problems
    assert problems == [], "\n".join(problems)
    assert used_allowances == set(ALLOWED_DIFFERENCES), "stale allow-list entries: remove them"


def test_every_operation_declares_the_error_envelope(ours):
    for path, method, operation in _operations(ours):
        if not path.startswith("/v1/"):
            continue
        for code in ("404", "422"):
            schema = _json_schema(operation["responses"][code]["content"])
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)


def _walk(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def test_no_union_has_an_unconstrained_alternative(ours):
    # Found by schemathesis: {"oneOf": [{}, {"type": "null"}]} rejects null (it matches both), so a document whose
    # observation_scopes were null violated our own schema.
    for node in _walk(ours):
        if isinstance(node, dict):
            for key in ("oneOf", "anyOf"):
                assert {} not in node.get(key, []), node


def test_mental_model_history_is_declared_as_the_list_it_is(ours):
    # Found by schemathesis: the route answers a list, the document said an object.
    operation = ours["paths"]["/v1/default/banks/{bank_id}/mental-models/{mental_model_id}/history"]["get"]
    schema = _json_schema(operation["responses"]["200"]["content"])
    assert schema["type"] == "array"
    assert set(_properties(ours, schema["items"])) == {"previous_content", "source_query", "changed_at"}


def test_routes_that_need_no_key_declare_no_security_and_the_rest_require_the_key(ours):
    public = {"/health", "/health/live", "/health/ready", "/version", "/v1/bank-template-schema"}
    for path, method, operation in _operations(ours):
        expected = [] if path in public else [{"ApiKeyAuth": []}]
        assert operation.get("security") == expected, (method, path)
