"""The embedded PostgreSQL runner: reuse of a running server, recovery from a stale pid file, unprivileged user."""

import os

import psutil
import psycopg
import pytest

from hindsight_site.embedded import EmbeddedPostgres
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
    finally:
        first.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


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
