"""The ``hindsight`` command line: banks, configuration, directives, memories, operations, API keys, and ``serve``.

    hindsight bank create my-bank --mission "..." --skepticism 4
    hindsight bank set-config my-bank --retain-extraction-mode verbose --disposition-empathy 2
    hindsight memory recall my-bank "What does Alice do?" --json

The server is ``--url``, else ``$HINDSIGHT_URL`` (or ``$HINDSIGHT_API_URL``), else http://127.0.0.1:8888; the API key
is ``--api-key`` or ``$HINDSIGHT_API_KEY``. Output is a human-readable table or text; ``--json`` prints the server's
JSON instead. Exit codes: 0 success, 1 the server refused the request (4xx/5xx; one line on stderr), 2 bad usage,
3 the server could not be reached (or did not answer in time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8888"
EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
API_KEYS = "/v1/admin/api-keys"


class UsageError(Exception):
    """Bad input noticed after parsing (exit 2)."""


# --- output -----------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any, width: int | None = None) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value) if value else "-"
    else:
        text = str(value)
    text = " ".join(text.split())
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, max_width: int = 60) -> str:
    """A plain fixed-width table: ``columns`` are (key, heading)."""
    cells = [[_cell(row.get(key), max_width) for key, _ in columns] for row in rows]
    widths = [max([len(heading)] + [len(r[i]) for r in cells]) for i, (_, heading) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json

    def emit(self, data: Any, human: Callable[[Any], str] | str | None = None) -> None:
        data = _plain(data)
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        elif human is not None:
            text = human(data) if callable(human) else human
            if text:
                print(text)


# --- the connection ---------------------------------------------------------------------------------------------------


def _client(args: argparse.Namespace):
    from hindsight_client import Hindsight

    url = args.url or os.environ.get("HINDSIGHT_URL") or os.environ.get("HINDSIGHT_API_URL") or DEFAULT_URL
    api_key = args.api_key or os.environ.get("HINDSIGHT_API_KEY") or None
    return Hindsight(base_url=url, api_key=api_key, timeout=args.timeout, user_agent="hindsight-cli")


def _send(client, method: str, path: str, body: Any = None) -> Any:
    from hindsight_client._http import Call

    call = Call(method, path, json=body) if body is not None else Call(method, path, retry=method == "GET")
    return client._conn.send(call)


def _confirm(args: argparse.Namespace, question: str) -> None:
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Pass -y to confirm (no terminal to ask on).")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("cancelled")


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


# --- banks ------------------------------------------------------------------------------------------------------------


def bank_create(args, client, out: Output) -> None:
    result = client.create_bank(
        args.bank_id,
        name=args.name,
        mission=args.mission,
        disposition_skepticism=args.skepticism,
        disposition_literalism=args.literalism,
        disposition_empathy=args.empathy,
    )
    out.emit(result, f"Bank '{args.bank_id}' saved.")


def bank_list(args, client, out: Output) -> None:
    result = client.list_banks(q=args.query, limit=args.limit, offset=args.offset)
    columns = [("bank_id", "bank"), ("name", "name"), ("fact_count", "facts"), ("mission", "mission")]

    def human(data):
        if not data.get("banks"):
            return "No banks."
        return table(data["banks"], columns)

    out.emit(result, human)


def bank_delete(args, client, out: Output) -> None:
    _confirm(args, f"Delete bank '{args.bank_id}' and every memory in it?")
    result = client.delete_bank(args.bank_id)
    out.emit(result, f"Bank '{args.bank_id}' deleted.")


def _config_fields():
    from banks import config_registry

    return config_registry.FIELDS


def bank_set_config(args, client, out: Output) -> None:
    from banks.config_registry import ConfigValidationError

    updates: dict[str, Any] = {}
    for field in _config_fields():
        raw = getattr(args, f"cfg_{field.name}", None)
        if raw is None:
            continue
        try:
            updates[field.name] = field.parse_env(raw)
        except ConfigValidationError as exc:
            raise UsageError(f"--{field.name.replace('_', '-')}: {exc.message}") from None
    for name in args.unset or []:
        updates[name.replace("-", "_")] = None
    if not updates:
        raise UsageError("nothing to set: give at least one --<setting> (see `hindsight bank set-config --help`)")
    result = _send(client, "PATCH", f"/v1/default/banks/{_quote(args.bank_id)}/config", {"updates": updates})
    names = ", ".join(sorted(updates))
    out.emit(result, f"Bank '{args.bank_id}': set {names}.")


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _config_text(data: dict[str, Any], overrides_only: bool) -> str:
    overrides = data.get("overrides") or {}
    if overrides_only:
        if not overrides:
            return "No overrides: this bank uses the server defaults."
        rows = [{"setting": k, "value": v} for k, v in overrides.items()]
        return table(rows, [("setting", "setting"), ("value", "value")], max_width=80)
    rows = [
        {"setting": k, "value": v, "source": "bank" if k in overrides else "default"} for k, v in data["config"].items()
    ]
    return table(rows, [("setting", "setting"), ("value", "value"), ("source", "source")], max_width=80)


def bank_config(args, client, out: Output) -> None:
    data = client.get_bank_config(args.bank_id)
    if args.overrides_only and out.as_json:
        out.emit(data.get("overrides") or {})
        return
    out.emit(data, lambda d: _config_text(d, args.overrides_only))


def bank_reset_config(args, client, out: Output) -> None:
    _confirm(args, f"Remove every configuration override of bank '{args.bank_id}'?")
    result = client.reset_bank_config(args.bank_id)
    out.emit(result, f"Bank '{args.bank_id}': configuration reset to the server defaults.")


# --- directives -------------------------------------------------------------------------------------------------------

DIRECTIVE_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("priority", "priority"),
    ("is_active", "active"),
    ("content", "content"),
]


def directive_create(args, client, out: Output) -> None:
    result = client.create_directive(
        bank_id=args.bank_id,
        name=args.name,
        content=args.content,
        priority=args.priority,
        is_active=not args.inactive,
        tags=_csv(args.tags),
    )
    out.emit(result, lambda d: f"Created directive: {d['id']}")


def directive_list(args, client, out: Output) -> None:
    result = client.list_directives(bank_id=args.bank_id, tags=_csv(args.tags))

    def human(data):
        items = data.get("items") or []
        return table(items, DIRECTIVE_COLUMNS) if items else "No directives."

    out.emit(result, human)


def directive_get(args, client, out: Output) -> None:
    result = client.get_directive(args.bank_id, args.directive_id)
    out.emit(result, lambda d: table([d], DIRECTIVE_COLUMNS, max_width=200))


def directive_update(args, client, out: Output) -> None:
    active = True if args.active else False if args.inactive else None
    if all(v is None for v in (args.name, args.content, args.priority, active, args.tags)):
        raise UsageError("nothing to change: give --name, --content, --priority, --tags, --active or --inactive")
    result = client.update_directive(
        bank_id=args.bank_id,
        directive_id=args.directive_id,
        name=args.name,
        content=args.content,
        priority=args.priority,
        is_active=active,
        tags=_csv(args.tags),
    )
    out.emit(result, lambda d: f"Directive {d['id']} updated (active: {_cell(d.get('is_active'))}).")


def directive_delete(args, client, out: Output) -> None:
    client.delete_directive(bank_id=args.bank_id, directive_id=args.directive_id)
    out.emit({"success": True, "id": args.directive_id}, f"Directive {args.directive_id} deleted.")


# --- memories ---------------------------------------------------------------------------------------------------------


def memory_retain(args, client, out: Output) -> None:
    content = sys.stdin.read() if args.content == "-" else args.content
    if not content.strip():
        raise UsageError("nothing to retain: the content is empty")
    result = client.retain(
        bank_id=args.bank_id,
        content=content,
        context=args.context,
        timestamp=args.timestamp,
        document_id=args.document_id,
        tags=_csv(args.tags),
        retain_async=args.async_,
    )

    def human(data):
        if data.get("async"):
            return f"Queued: operation {data.get('operation_id')}"
        return f"Retained {data.get('items_count', 1)} item(s) into '{args.bank_id}'."

    out.emit(result, human)


def memory_recall(args, client, out: Output) -> None:
    result = client.recall(
        bank_id=args.bank_id,
        query=args.query,
        types=_csv(args.types),
        budget=args.budget,
        max_tokens=args.max_tokens,
        tags=_csv(args.tags),
    )

    def human(data):
        results = data.get("results") or []
        if not results:
            return "No memories found."
        return "\n".join(f"{i}. {r.get('text')}  [{r.get('type')}]" for i, r in enumerate(results, start=1))

    out.emit(result, human)


def memory_reflect(args, client, out: Output) -> None:
    result = client.reflect(bank_id=args.bank_id, query=args.query, budget=args.budget, context=args.context)
    out.emit(result, lambda d: d.get("text") or "")


def memory_list(args, client, out: Output) -> None:
    result = client.list_memories(
        bank_id=args.bank_id, type=args.type, search_query=args.query, limit=args.limit, offset=args.offset
    )

    def human(data):
        items = data.get("items") or []
        if not items:
            return "No memories."
        shown = table(items, [("id", "id"), ("fact_type", "type"), ("text", "text")], max_width=90)
        return f"{shown}\n{len(items)} of {data.get('total', len(items))}"

    out.emit(result, human)


# --- operations -------------------------------------------------------------------------------------------------------

OPERATION_COLUMNS = [
    ("id", "id"),
    ("task_type", "type"),
    ("status", "status"),
    ("created_at", "created"),
    ("error_message", "error"),
]


def operation_list(args, client, out: Output) -> None:
    result = client.list_operations(args.bank_id, status=args.status, limit=args.limit, offset=args.offset)

    def human(data):
        ops = data.get("operations") or []
        return table(ops, OPERATION_COLUMNS) if ops else "No operations."

    out.emit(result, human)


def operation_get(args, client, out: Output) -> None:
    result = client.get_operation(args.bank_id, args.operation_id)

    def human(data):
        shown = {**data, "id": data.get("operation_id") or data.get("id"), "task_type": data.get("operation_type")}
        return table([shown], OPERATION_COLUMNS, max_width=200)

    out.emit(result, human)


def operation_cancel(args, client, out: Output) -> None:
    result = client.cancel_operation(args.bank_id, args.operation_id)
    out.emit(result, f"Operation {args.operation_id} cancelled.")


# --- API keys ---------------------------------------------------------------------------------------------------------

KEY_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("prefix", "prefix"),
    ("banks", "banks"),
    ("read_only", "read-only"),
    ("last_used_at", "last used"),
    ("revoked_at", "revoked"),
]


def api_key_create(args, client, out: Output) -> None:
    body = {"name": args.name, "banks": args.bank or None, "read_only": args.read_only}
    result = _send(client, "POST", API_KEYS, body)

    def human(data):
        return (
            f"Created API key {data.get('id')} ({data.get('name')}).\n"
            f"Key: {data.get('key')}\n"
            "Store it now: it is shown only once."
        )

    out.emit(result, human)


def api_key_list(args, client, out: Output) -> None:
    result = _send(client, "GET", API_KEYS)

    def human(data):
        items = data.get("items") or []
        return table(items, KEY_COLUMNS) if items else "No API keys."

    out.emit(result, human)


def api_key_revoke(args, client, out: Output) -> None:
    result = _send(client, "DELETE", f"{API_KEYS}/{_quote(args.key_id)}")
    out.emit(result, f"API key {args.key_id} revoked.")


# --- serve ------------------------------------------------------------------------------------------------------------


def serve(args) -> int:
    """Run the server in the foreground (``manage.py serve``), with the LLM flags mapped onto its settings."""
    from hindsight import _launch

    llm = _launch.llm_environment(
        args.llm_provider, args.llm_model, os.environ.get("HINDSIGHT_LLM_API_KEY"), args.llm_base_url
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if llm[1]:
        for key in _launch.LLM_VARIABLES:
            if key != "HINDSIGHT_LLM_API_KEY":
                env.pop(key, None)
        env.update(llm[0])
    env["DJANGO_SETTINGS_MODULE"] = "hindsight_site.settings"
    argv = [sys.executable, "-m", "django", "serve"]
    for flag in ("host", "port", "profile", "idle_timeout"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if args.no_worker:
        argv.append("--no-worker")
    os.chdir(_launch.REPO)
    os.execve(sys.executable, argv, env)  # noqa: S606 - replaces this process with the server, by design
    return 0  # pragma: no cover


# --- the parser -------------------------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection and output")
    group.add_argument("--url", default=default, help=f"Server URL (default: $HINDSIGHT_URL or {DEFAULT_URL}).")
    group.add_argument("--api-key", default=default, help="API key (default: $HINDSIGHT_API_KEY).")
    group.add_argument("--json", action="store_true", default=False if top else argparse.SUPPRESS, help="Print JSON.")
    group.add_argument(
        "--timeout", type=float, default=30.0 if top else argparse.SUPPRESS, help="Seconds per request (30)."
    )


def _int_1_5(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to 5, not {text!r}") from None
    if not 1 <= value <= 5:
        raise argparse.ArgumentTypeError(f"must be from 1 to 5, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hindsight",
        description="Manage a Hindsight memory server: banks, configuration, directives, memories, operations, keys.",
        epilog="Exit codes: 0 success, 1 the server refused the request, 2 bad usage, 3 server unreachable.",
    )
    _common(parser, top=True)
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def command(sub, name: str, handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _common(p, top=False)
        p.set_defaults(handler=handler)
        return p

    # bank
    bank = groups.add_parser("bank", help="Create, list, delete and configure memory banks.").add_subparsers(
        dest="command", metavar="ACTION", required=True
    )
    p = command(bank, "create", bank_create, "Create a bank (or update its name, mission and disposition).")
    p.add_argument("bank_id")
    p.add_argument("--name")
    p.add_argument("--mission", help="The bank's mission: who it is and what it is for (used by reflect).")
    p.add_argument("--skepticism", type=_int_1_5, help="1 (trusting) to 5 (skeptical).")
    p.add_argument("--literalism", type=_int_1_5, help="1 (flexible) to 5 (literal).")
    p.add_argument("--empathy", type=_int_1_5, help="1 (detached) to 5 (empathetic).")
    p = command(bank, "list", bank_list, "List banks.")
    p.add_argument("--query", "-q", help="Only banks whose id or name contains this.")
    p.add_argument("--limit", type=int)
    p.add_argument("--offset", type=int)
    p = command(bank, "delete", bank_delete, "Delete a bank and everything in it.")
    p.add_argument("bank_id")
    p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")
    p = command(bank, "set-config", bank_set_config, "Set per-bank configuration overrides.")
    p.add_argument("bank_id")
    settings = p.add_argument_group("settings (JSON for lists and objects; true/false for switches)")
    for field in _config_fields():
        flag = "--" + field.name.replace("_", "-")
        hint = f" One of: {', '.join(field.choices)}." if field.choices else ""
        settings.add_argument(flag, dest=f"cfg_{field.name}", metavar=field.kind.upper(), help=field.help + hint)
    p.add_argument(
        "--unset", action="append", metavar="SETTING", help="Remove this override (repeatable), e.g. retain-mission."
    )
    p = command(bank, "config", bank_config, "Show the resolved configuration (defaults with the bank's overrides).")
    p.add_argument("bank_id")
    p.add_argument("--overrides-only", action="store_true", help="Only the settings this bank overrides.")
    p = command(bank, "reset-config", bank_reset_config, "Remove every per-bank configuration override.")
    p.add_argument("bank_id")
    p.add_argument("-y", "--yes", action="store_true", help="Do not ask for confirmation.")

    # directive
    directive = groups.add_parser("directive", help="Hard rules reflect always follows.").add_subparsers(
        dest="command", metavar="ACTION", required=True
    )
    p = command(directive, "create", directive_create, "Create a directive.")
    p.add_argument("bank_id")
    p.add_argument("name")
    p.add_argument("content")
    p.add_argument("--priority", type=int, default=0)
    p.add_argument("--tags", help="Comma-separated tags scoping the directive.")
    p.add_argument("--inactive", action="store_true", help="Create it disabled.")
    p = command(directive, "list", directive_list, "List a bank's directives.")
    p.add_argument("bank_id")
    p.add_argument("--tags", help="Comma-separated tags.")
    p = command(directive, "get", directive_get, "Show one directive.")
    p.add_argument("bank_id")
    p.add_argument("directive_id")
    p = command(directive, "update", directive_update, "Change a directive.")
    p.add_argument("bank_id")
    p.add_argument("directive_id")
    p.add_argument("--name")
    p.add_argument("--content")
    p.add_argument("--priority", type=int)
    p.add_argument("--tags", help="Comma-separated tags (replaces them).")
    active = p.add_mutually_exclusive_group()
    active.add_argument("--active", action="store_true", help="Enable it.")
    active.add_argument("--inactive", action="store_true", help="Disable it without deleting it.")
    p = command(directive, "delete", directive_delete, "Delete a directive.")
    p.add_argument("bank_id")
    p.add_argument("directive_id")

    # memory
    memory = groups.add_parser("memory", help="Retain, recall, reflect and list memories.").add_subparsers(
        dest="command", metavar="ACTION", required=True
    )
    p = command(memory, "retain", memory_retain, "Store content in a bank ('-' reads it from stdin).")
    p.add_argument("bank_id")
    p.add_argument("content")
    p.add_argument("--context")
    p.add_argument("--timestamp", help="When it happened (ISO 8601).")
    p.add_argument("--document-id")
    p.add_argument("--tags", help="Comma-separated tags.")
    p.add_argument("--async", dest="async_", action="store_true", help="Queue it and print the operation id.")
    p = command(memory, "recall", memory_recall, "Find the memories most relevant to a query.")
    p.add_argument("bank_id")
    p.add_argument("query")
    p.add_argument("--budget", choices=("low", "mid", "high"), default="mid")
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--types", help="Comma-separated fact types (world, experience, observation).")
    p.add_argument("--tags", help="Comma-separated tags.")
    p = command(memory, "reflect", memory_reflect, "Answer a question from the bank's memories.")
    p.add_argument("bank_id")
    p.add_argument("query")
    p.add_argument("--budget", choices=("low", "mid", "high"), default="low")
    p.add_argument("--context")
    p = command(memory, "list", memory_list, "List a bank's memories.")
    p.add_argument("bank_id")
    p.add_argument("--type", choices=("world", "experience", "observation"))
    p.add_argument("--query", "-q", help="Only memories whose text contains this.")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)

    # operation
    operation = groups.add_parser("operation", help="Background operations of a bank.").add_subparsers(
        dest="command", metavar="ACTION", required=True
    )
    p = command(operation, "list", operation_list, "List a bank's operations.")
    p.add_argument("bank_id")
    p.add_argument("--status", choices=("pending", "processing", "completed", "failed", "cancelled"))
    p.add_argument("--limit", type=int)
    p.add_argument("--offset", type=int)
    p = command(operation, "get", operation_get, "Show one operation.")
    p.add_argument("bank_id")
    p.add_argument("operation_id")
    p = command(operation, "cancel", operation_cancel, "Cancel a pending or running operation.")
    p.add_argument("bank_id")
    p.add_argument("operation_id")

    # api-key
    keys = groups.add_parser("api-key", help="API keys (needs an admin key when keys are enforced).").add_subparsers(
        dest="command", metavar="ACTION", required=True
    )
    p = command(keys, "create", api_key_create, "Create an API key; the key is printed once.")
    p.add_argument("name")
    p.add_argument("--bank", action="append", help="Limit the key to this bank (repeatable; default: every bank).")
    p.add_argument("--read-only", action="store_true", help="The key can read but not write.")
    command(keys, "list", api_key_list, "List API keys (never the keys themselves).")
    p = command(keys, "revoke", api_key_revoke, "Revoke an API key.")
    p.add_argument("key_id")

    # serve
    p = groups.add_parser(
        "serve",
        help="Run the server here (embedded PostgreSQL and Redis unless DATABASE_URL / CELERY_BROKER_URL are set).",
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--profile")
    p.add_argument("--no-worker", action="store_true")
    p.add_argument("--idle-timeout", type=float, help="Stop after this many seconds without a request.")
    p.add_argument("--llm-provider", help="e.g. openai, anthropic, gemini, groq, ollama (key: $HINDSIGHT_LLM_API_KEY).")
    p.add_argument("--llm-model", help="The provider's model name, or a full litellm model string.")
    p.add_argument("--llm-base-url", help="An OpenAI-compatible endpoint.")
    p.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from hindsight_client import ApiError, HindsightConnectionError, HindsightError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.group == "serve":
        return serve(args)
    client = _client(args)
    try:
        args.handler(args, client, Output(args.json))
    except UsageError as exc:
        print(f"hindsight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail) if exc.detail else exc.reason
        print(f"hindsight: error {exc.status_code}: {detail}", file=sys.stderr)
        return EXIT_API_ERROR
    except HindsightConnectionError as exc:
        print(f"hindsight: cannot reach {client.base_url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except HindsightError as exc:
        print(f"hindsight: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
