"""The Django project: settings, URLs, the Celery app, the embedded services and the ``serve`` command."""

import os

# numpy's OpenBLAS would start a thread per core for each product and keep them spinning between calls: in a web
# process whose requests each run a few small products (recall from memories/recall_index.py) that doubled the CPU
# a recall costs (measured: 43 against 23 ms per query). Set before anything imports numpy; an operator's own value
# wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hindsight_site.celery import app as celery_app

__all__ = ["celery_app"]
