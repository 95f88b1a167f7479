"""The Celery application. Broker settings come from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hindsight_site.settings")

app = Celery("hindsight_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
