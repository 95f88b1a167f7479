"""Settings read the environment through typed readers and fail loudly on bad values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from hindsight_site import env

REPO = Path(__file__).resolve().parents[2]


def test_readers_parse_their_types():
    environ = {"B": "yes", "I": " 42 ", "L": "a, b,,c", "P": "alpha-1", "E": ""}
    assert env.env_bool("B", False, environ=environ) is True
    assert env.env_bool("E", True, environ=environ) is True
    assert env.env_int("I", 0, environ=environ) == 42
    assert env.env_list("L", [], environ=environ) == ["a", "b", "c"]
    assert env.env_profile("P", "default", environ=environ) == "alpha-1"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: env.env_bool("X", False, environ={"X": "sure"}), "X must be true or false"),
        (lambda: env.env_int("X", 1, environ={"X": "ten"}), "X must be an integer"),
        (lambda: env.env_int("X", 1, minimum=1, maximum=9, environ={"X": "10"}), "X must be at most 9"),
        (lambda: env.env_profile("X", "default", environ={"X": "../etc"}), "X must be 1-63 lowercase"),
        (lambda: env.parse_database_url("mysql://u@h/db"), "must be a postgresql:// URL"),
        (lambda: env.parse_database_url("postgresql://u@h"), "must name a database"),
    ],
)
def test_readers_fail_naming_the_variable(call, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        call()


def test_database_urls_with_hosts_ports_and_sockets():
    tcp = env.parse_database_url("postgresql://me:p%40ss@db.internal:6543/memories?sslmode=require")
    assert tcp == {
        "NAME": "memories",
        "USER": "me",
        "PASSWORD": "p@ss",
        "HOST": "db.internal",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }
    socket = env.parse_database_url("postgresql://postgres@/hindsight?host=/tmp/run/pg")
    assert socket["HOST"] == "/tmp/run/pg"
    assert socket["OPTIONS"] == {}


def test_unknown_hindsight_variables_are_reported():
    found = env.unknown_hindsight_variables(
        {"HINDSIGHT_PORT": "1", "HINDSIGHT_PROFLE": "x", "PATH": "/"}, {"HINDSIGHT_PORT"}
    )
    assert found == ["HINDSIGHT_PROFLE"]


def _settings_in_subprocess(extra_env: dict, expression: str) -> subprocess.CompletedProcess:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_API_")}
    child_env.update(extra_env)
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**child_env, "DJANGO_SETTINGS_MODULE": "hindsight_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_malformed_setting_stops_start_up_with_its_name():
    result = _settings_in_subprocess({"HINDSIGHT_PORT": "eighty"}, "settings.HINDSIGHT_PORT")
    assert result.returncode != 0
    assert "HINDSIGHT_PORT must be an integer" in result.stderr


def test_a_malformed_bank_default_stops_start_up_with_its_name():
    result = _settings_in_subprocess({"HINDSIGHT_API_RETAIN_CHUNK_SIZE": "huge"}, "1")
    assert result.returncode != 0
    assert "HINDSIGHT_API_RETAIN_CHUNK_SIZE must be an integer" in result.stderr


def test_bank_defaults_and_profiles_come_from_the_environment(tmp_path):
    result = _settings_in_subprocess(
        {
            "HINDSIGHT_API_RETAIN_CHUNK_SIZE": "1500",
            "HINDSIGHT_HOME": str(tmp_path),
            "HINDSIGHT_PROFILE": "work",
        },
        "settings.HINDSIGHT_CONFIG_DEFAULTS['retain_chunk_size'], settings.DATABASES['default']['HOST']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"1500 {tmp_path}/profiles/work/run/pg"


def test_health_answers_503_when_the_database_is_unreachable(tmp_path):
    result = _settings_in_subprocess(
        {
            "DATABASE_URL": f"postgresql://postgres@/hindsight?host={tmp_path}/no-server-here",
            "HINDSIGHT_ALLOWED_HOSTS": "testserver",
        },
        "(lambda r: (r.status_code, r.json()['status'], r.json()['database']))"
        "(__import__('django.test', fromlist=['Client']).Client().get('/health'))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(503, 'unhealthy', 'disconnected')"
