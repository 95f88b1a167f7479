from django.apps import AppConfig


class DirectivesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "directives"

    def ready(self) -> None:
        # Registers the refresh_mental_model operation handler with memories.operations for every process.
        from directives import services  # noqa: F401
