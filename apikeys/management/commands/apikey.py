"""``python manage.py apikey create|list|revoke``: manage API keys from the command line.

``create`` prints the key once (it is never stored, only its hash); ``list`` shows prefixes, never keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apikeys import selectors, services
from hindsight_site.errors import DomainError


class Command(BaseCommand):
    help = "Create, list or revoke API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke,count}")
        create = sub.add_parser("create", help="Create a key and print it once.")
        create.add_argument("--name", required=True, help="What the key is for.")
        create.add_argument(
            "--bank",
            action="append",
            dest="banks",
            metavar="BANK_ID",
            help="Limit the key to this bank (repeat for several); without it the key reaches every bank.",
        )
        create.add_argument("--read-only", action="store_true", help="The key may read but not write.")
        sub.add_parser("list", help="List keys (prefixes only).")
        revoke = sub.add_parser("revoke", help="Revoke a key by its id.")
        revoke.add_argument("key_id", help="The key's id (from 'apikey list').")
        sub.add_parser("count", help="Print how many active keys exist (0 means the API may run open).")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as exc:
            raise CommandError(exc.detail) from None

    def _create(self, options) -> None:
        api_key, raw = services.create_api_key(
            name=options["name"], banks=options["banks"], read_only=options["read_only"]
        )
        scope = ", ".join(api_key.banks) if api_key.banks else "every bank"
        access = "read-only" if api_key.read_only else "read-write"
        self.stdout.write(raw)
        self.stderr.write(
            f"Created API key '{api_key.name}' (id {api_key.pk}, {access}, {scope}). "
            "Store it now: it cannot be shown again."
        )

    def _list(self, options) -> None:
        keys = list(selectors.list_api_keys())
        if not keys:
            self.stdout.write("No API keys.")
            return
        rows = [("ID", "NAME", "PREFIX", "BANKS", "ACCESS", "CREATED", "LAST USED", "STATUS")]
        for key in keys:
            rows.append(
                (
                    str(key.pk),
                    key.name,
                    f"{key.prefix}…",
                    ",".join(key.banks) if key.banks else "*",
                    "read-only" if key.read_only else "read-write",
                    f"{key.created_at:%Y-%m-%d %H:%M}",
                    f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
                    f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _revoke(self, options) -> None:
        api_key = services.revoke_api_key(key_id=options["key_id"])
        self.stdout.write(f"Revoked API key '{api_key.name}' ({api_key.prefix}…).")

    def _count(self, options) -> None:
        self.stdout.write(str(selectors.active_key_count()))
