from django.apps import AppConfig


class HindsightSiteConfig(AppConfig):
    """Hosts the project's management commands (``serve``) and server-wide views (health, version)."""

    name = "hindsight_site"
    verbose_name = "Hindsight server"
