"""The Django project: settings, URLs, the Celery app, the embedded services and the ``serve`` command."""

from hindsight_site.celery import app as celery_app

__all__ = ["celery_app"]
