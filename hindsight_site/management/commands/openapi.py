"""Regenerate the committed OpenAPI document (``openapi.json``), or check it is current with ``--check``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hindsight_site import openapi


class Command(BaseCommand):
    help = "Write our generated OpenAPI document to openapi.json at the repository root (--check: only compare)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Fail if the committed copy differs; write nothing.")

    def handle(self, *args, check: bool = False, **options):
        text = openapi.render(openapi.generate())
        current = openapi.COMMITTED.read_text() if openapi.COMMITTED.exists() else ""
        if check:
            if text != current:
                raise CommandError(f"{openapi.COMMITTED.name} is out of date; regenerate with: {openapi.REGENERATE}")
            self.stdout.write(f"{openapi.COMMITTED.name} is up to date.")
            return
        if text == current:
            self.stdout.write(f"{openapi.COMMITTED.name} is already up to date.")
            return
        openapi.COMMITTED.write_text(text)
        self.stdout.write(f"Wrote {openapi.COMMITTED}.")
