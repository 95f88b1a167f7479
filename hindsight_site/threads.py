"""Thread pools that belong to one process: made on first use, and made again in a forked child.

A pool made before a fork (gunicorn and Celery fork their workers) would be inherited without its threads; the
child gets a pool of its own the first time it asks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class ProcessThreadPool:
    """``get()`` returns this process's pool of ``size()`` threads named ``prefix``."""

    def __init__(self, size: Callable[[], int], prefix: str):
        self._size = size
        self._prefix = prefix
        self._lock = threading.Lock()
        self._pool: tuple[int, ThreadPoolExecutor] | None = None

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():
                self._pool = (os.getpid(), ThreadPoolExecutor(self._size(), thread_name_prefix=self._prefix))
            return self._pool[1]
