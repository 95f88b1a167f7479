"""The all-in-one package: run this project's server from Python and talk to it.

    from hindsight import HindsightServer, HindsightClient

    with HindsightServer(llm_provider="openai", llm_model="gpt-4o-mini", llm_api_key="sk-...") as server:
        client = HindsightClient(base_url=server.url)
        client.retain(bank_id="my-bank", content="Alice works at Google")

``HindsightServer`` runs a server (embedded PostgreSQL and Redis, web server, worker) for a ``with`` block;
``HindsightEmbedded`` manages a background daemon per profile, started on first use; ``HindsightClient`` is the
client (``hindsight_client.Hindsight``). The ``hindsight`` command line is ``hindsight.cli``. Importing this package
imports nothing from Django: the server runs in child processes.
"""

from hindsight.embedded import HindsightEmbedded
from hindsight.server import HindsightServer, Server, start_server
from hindsight_client import Hindsight, __version__


class HindsightClient(Hindsight):
    """``hindsight_client.Hindsight`` with upstream's default timeout of 300 s: a first request to a server that has
    just started (models loading) or a long reflect may take well over ``Hindsight``'s 30 s."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 300.0, *args, **kwargs):
        super().__init__(base_url, api_key, timeout, *args, **kwargs)


__all__ = [
    "Hindsight",
    "HindsightClient",
    "HindsightEmbedded",
    "HindsightServer",
    "Server",
    "__version__",
    "start_server",
]
