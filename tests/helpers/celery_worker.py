"""The Celery scale-out test names each worker: Airflow records this as the task instance's hostname.

Set as ``[core] hostname_callable`` in a worker's environment only (both workers share one host).
"""

from __future__ import annotations

import os

WORKER_NAME_ENV = "JOURNEYPULSE_TEST_WORKER_NAME"


def worker_name() -> str:
    return os.environ[WORKER_NAME_ENV]
