from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from annotations import locks
        from datasets.selectors import example_is_locked
        from datasets.services import RELEASE_BUILD_JOB
        from reviewhub import jobs

        jobs.register(RELEASE_BUILD_JOB)
        # An example in an approved or published release can no longer be withdrawn;
        # annotations asks through its lock registry (annotations.locks).
        locks.register(example_is_locked)
