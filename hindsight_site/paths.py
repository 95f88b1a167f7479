"""Where a profile keeps its data: one folder per profile under HINDSIGHT_HOME.

Settings, the ``serve`` command and the embedded service runners all derive paths from here, so a process that
only knows (home, profile) finds the same database socket as the process that started the database.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_PG_SOCKET_NAME = ".s.PGSQL.5432"


@dataclass(frozen=True)
class ProfilePaths:
    home: Path
    profile: str

    @property
    def root(self) -> Path:
        return self.home / "profiles" / self.profile

    @property
    def postgres_data(self) -> Path:
        return self.root / "postgres"

    @property
    def redis_data(self) -> Path:
        return self.root / "redis"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def metrics(self) -> Path:
        """Prometheus multiprocess files of this profile's web and worker processes (wiped by ``serve``)."""
        return self.root / "metrics"

    @property
    def secret_key_file(self) -> Path:
        return self.root / "secret_key"

    @property
    def serve_lock(self) -> Path:
        return self.root / "serve.lock"

    @property
    def run(self) -> Path:
        """Folder for Unix sockets; moved to a short path under /tmp when the profile path is too long."""
        preferred = self.root / "run"
        if len(str(preferred / "pg" / _PG_SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"hindsight-{digest}"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.run / "pg"

    @property
    def redis_socket(self) -> Path:
        return self.run / "redis.sock"

    @property
    def embedded_database_url(self) -> str:
        return f"postgresql://postgres@/hindsight?host={self.postgres_socket_dir}"

    @property
    def embedded_broker_url(self) -> str:
        return f"redis+socket://{self.redis_socket}"
