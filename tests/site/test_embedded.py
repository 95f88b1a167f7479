"""The embedded PostgreSQL runner: reuse of a running server, recovery from a stale pid file, unprivileged user."""

import os

import psutil
import psycopg
import pytest

from hindsight_site.embedded import EmbeddedPostgres, server_settings
from hindsight_site.paths import ProfilePaths

pytestmark = pytest.mark.slow


@pytest.fixture
def paths(tmp_path_factory):
    return ProfilePaths(tmp_path_factory.mktemp("embedded"), "solo")


def _query(paths: ProfilePaths, sql: str):
    with psycopg.connect(host=str(paths.postgres_socket_dir), user="postgres", dbname="hindsight") as conn:
        return conn.execute(sql).fetchone()[0]


def test_a_second_runner_reuses_the_server_and_only_the_starter_stops_it(paths):
    first = EmbeddedPostgres(paths)
    first.start()
    try:
        assert first.started_here
        pid = int((paths.postgres_data / "postmaster.pid").read_text().split()[0])
        if os.geteuid() == 0:
            assert psutil.Process(pid).username() == "hindsight"
        second = EmbeddedPostgres(paths)
        second.start()
        assert not second.started_here
        second.stop()
        assert psutil.pid_exists(pid)
        assert _query(paths, "SELECT 1") == 1
        # The write-heavy settings reach the server.
        assert _query(paths, "SHOW checkpoint_timeout") == "15min"
        assert _query(paths, "SHOW max_wal_size") == "4GB"
        buffers = next(s for s in server_settings() if s.startswith("shared_buffers="))
        assert _query(paths, "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'") == int(
            buffers.removeprefix("shared_buffers=").removesuffix("MB")
        )
    finally:
        first.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_shared_buffers_follow_the_machine_within_bounds():
    def buffers(memory: int) -> str:
        return next(s for s in server_settings(memory) if s.startswith("shared_buffers="))

    assert buffers(2 << 30) == "shared_buffers=256MB"  # small machines keep the floor
    assert buffers(16 << 30) == "shared_buffers=1024MB"
    assert buffers(256 << 30) == "shared_buffers=2048MB"  # and big ones the ceiling


def test_a_stale_pid_file_from_a_crash_does_not_block_a_start(paths):
    runner = EmbeddedPostgres(paths)
    runner.start()
    runner.stop()
    # A crash leaves postmaster.pid behind, and after a reboot its pid may belong to an unrelated process.
    (paths.postgres_data / "postmaster.pid").write_text(f"{os.getpid()}\n{paths.postgres_data}\n")
    restarted = EmbeddedPostgres(paths)
    restarted.start()
    try:
        assert restarted.started_here
        assert _query(paths, "SELECT current_database()") == "hindsight"
    finally:
        restarted.stop()
