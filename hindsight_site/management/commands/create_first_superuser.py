"""``manage.py create_first_superuser``: the first sign-in for the control plane, when no user exists yet.

``serve`` runs it after migrating. It creates the superuser ``admin`` with the password from
``HINDSIGHT_ADMIN_PASSWORD``, or a generated one, and prints one JSON line (``created``, ``username``, and the
generated ``password`` so that it can be shown once). When any user exists it does nothing. More users:
``manage.py createsuperuser`` or the admin.
"""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

FIRST_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the superuser 'admin' when no user exists (password from HINDSIGHT_ADMIN_PASSWORD or generated)."

    def handle(self, *args, **options):
        user_model = get_user_model()
        with transaction.atomic():
            if user_model.objects.exists():
                self.stdout.write(json.dumps({"created": False}))
                return
            given = settings.HINDSIGHT_ADMIN_PASSWORD
            password = given or secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=FIRST_USERNAME, email="", password=password)
        self.stdout.write(
            json.dumps({"created": True, "username": FIRST_USERNAME, "password": None if given else password})
        )
