from reviewhub import driver_deps

driver_deps.install()  # before anything imports neo4j

from reviewhub.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
