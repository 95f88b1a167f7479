"""WSGI entry point, served by gunicorn under ``manage.py serve``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hindsight_site.settings")

application = get_wsgi_application()
