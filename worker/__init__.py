"""pushgate's workers: the copy engine, the job store and the Celery app (`celery -A worker`)."""

from __future__ import annotations

from worker.celery_app import create_celery

# Configured lazily from PUSHGATE_* when Celery first reads its config, never at import.
celery = create_celery()
app = celery

__all__ = ["app", "celery"]
