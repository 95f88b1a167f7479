"""WSGI entry point, served by gunicorn under ``manage.py serve``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hindsight_site.settings")

application = get_wsgi_application()

# Web processes build in-process recall copies of large banks (memories/recall_index.py); other processes do not.
from memories import recall_index  # noqa: E402

recall_index.BUILDS_ENABLED = True
