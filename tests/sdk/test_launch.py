"""The ``hindsight`` package without a server: LLM mapping, profiles, environment, and no Django at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hindsight import HindsightClient, HindsightEmbedded, HindsightServer, _launch
from hindsight.embedded import PORT_BASE, PORT_SPAN, profile_port
from hindsight_client import Hindsight


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("openai", "gpt-4o-mini", "openai/gpt-4o-mini"),
        ("openai", None, "openai/gpt-4o-mini"),
        ("OpenAI", "openai/gpt-4.1-mini", "openai/gpt-4.1-mini"),
        ("anthropic", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"),
        ("groq", "openai/gpt-oss-120b", "groq/openai/gpt-oss-120b"),
        ("gemini", None, "gemini/gemini-2.5-flash"),
        ("vertexai", "gemini-2.5-pro", "vertex_ai/gemini-2.5-pro"),
        ("lmstudio", "qwen3", "lm_studio/qwen3"),
        ("litellm", "azure/my-deployment", "azure/my-deployment"),
        (None, "ollama/llama3", "ollama/llama3"),
        ("none", "whatever", None),
        (None, None, None),
    ],
)
def test_provider_and_model_become_a_litellm_model_string(provider, model, expected):
    assert _launch.litellm_model(provider, model) == expected


def test_a_provider_without_a_default_model_needs_one():
    with pytest.raises(ValueError, match="pass llm_model"):
        _launch.litellm_model("bedrock", None)


def test_llm_arguments_replace_the_parents_llm_settings(monkeypatch):
    monkeypatch.setenv("HINDSIGHT_LLM_REFLECT_MODEL", "anthropic/claude-opus")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("HINDSIGHT_EMBED_DAEMON_IDLE_TIMEOUT", "5")
    env = _launch.server_environment(
        home=_launch.hindsight_home("/tmp/h"),
        profile="p",
        llm=_launch.llm_environment("openai", "gpt-4o-mini", "sk-secret", "http://proxy:4000"),
    )
    assert env["HINDSIGHT_LLM_MODEL"] == "openai/gpt-4o-mini"
    assert env["HINDSIGHT_LLM_API_KEY"] == "sk-secret"
    assert env["HINDSIGHT_LLM_BASE_URL"] == "http://proxy:4000"
    assert "HINDSIGHT_LLM_REFLECT_MODEL" not in env
    assert "DATABASE_URL" not in env  # the embedded database unless db_url is given
    assert "HINDSIGHT_EMBED_DAEMON_IDLE_TIMEOUT" not in env
    assert (env["HINDSIGHT_HOME"], env["HINDSIGHT_PROFILE"]) == ("/tmp/h", "p")


def test_without_llm_arguments_the_environment_decides(monkeypatch):
    monkeypatch.setenv("HINDSIGHT_LLM_MODEL", "gemini/gemini-2.5-flash")
    env = _launch.server_environment(home=_launch.hindsight_home("/tmp/h"), profile="p", llm=_launch.llm_environment())
    assert env["HINDSIGHT_LLM_MODEL"] == "gemini/gemini-2.5-flash"


def test_a_database_url_is_passed_but_pg0_means_embedded():
    llm = _launch.llm_environment()
    home = _launch.hindsight_home("/tmp/h")
    assert _launch.server_environment(home=home, profile="p", llm=llm, database_url="pg0")
    assert "DATABASE_URL" not in _launch.server_environment(home=home, profile="p", llm=llm, database_url="pg0")
    given = _launch.server_environment(home=home, profile="p", llm=llm, database_url="postgresql://db/x")
    assert given["DATABASE_URL"] == "postgresql://db/x"


def test_profile_ports_are_stable_and_in_upstreams_range():
    assert profile_port("myapp") == profile_port("myapp")
    assert all(PORT_BASE <= profile_port(name) < PORT_BASE + PORT_SPAN for name in ("a", "myapp", "prod", "dev"))
    assert len({profile_port(name) for name in ("a", "b", "c", "d", "e")}) > 1


@pytest.mark.parametrize("name", ["", "My App", "../x", "-x", "a" * 64])
def test_bad_profile_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid profile name"):
        HindsightEmbedded(profile=name)
    with pytest.raises(ValueError, match="invalid profile name"):
        HindsightServer(profile=name)


def test_nothing_starts_before_first_use_and_bad_names_fail_without_a_server(tmp_path):
    embedded = HindsightEmbedded(profile="lazy", home=tmp_path)
    assert not embedded.is_running
    assert not (tmp_path / "profiles" / "lazy").exists()
    with pytest.raises(AttributeError):
        embedded.no_such_method  # noqa: B018
    with pytest.raises(AttributeError):
        embedded.banks.no_such_method  # noqa: B018


def test_hindsight_client_is_the_client_with_upstreams_timeout():
    client = HindsightClient(base_url="http://127.0.0.1:1")
    assert isinstance(client, Hindsight) and client._timeout == 300.0
    assert HindsightClient("http://127.0.0.1:1", None, 5.0)._timeout == 5.0


def test_the_package_and_the_cli_import_no_django():
    code = "import sys, hindsight, hindsight.cli; assert 'django' not in sys.modules, 'django imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("url", "profile", "database_url"),
    [
        (None, "hindsight", None),
        ("pg0", "hindsight", None),
        ("pg0://hindsight-embed-myapp", "hindsight-embed-myapp", None),
        ("pg0://Hindsight-Embed-X:5555", "hindsight-embed-x", None),
        ("postgresql+asyncpg://u:p@db/h", "hindsight", "postgresql://u:p@db/h"),
    ],
)
def test_hindsight_api_maps_upstreams_database_setting_to_a_profile(url, profile, database_url):
    from hindsight.api_main import profile_for

    assert profile_for(url) == (profile, database_url)


def test_hindsight_api_translates_upstreams_variables():
    from hindsight.api_main import child_environment

    env, profile = child_environment(
        {
            "HINDSIGHT_API_LLM_PROVIDER": "openai",
            "HINDSIGHT_API_LLM_MODEL": "gpt-4o-mini",
            "HINDSIGHT_API_LLM_API_KEY": "sk-x",
            "HINDSIGHT_API_DATABASE_URL": "pg0://hindsight-embed-app",
            "HINDSIGHT_API_LOG_LEVEL": "warning",
            "HINDSIGHT_API_PORT": "9000",
            "HINDSIGHT_API_RETAIN_CHUNK_SIZE": "2000",
            "HINDSIGHT_LLM_REFLECT_MODEL": "x/y",
        }
    )
    assert profile == "hindsight-embed-app"
    assert (env["HINDSIGHT_LLM_MODEL"], env["HINDSIGHT_LLM_API_KEY"]) == ("openai/gpt-4o-mini", "sk-x")
    assert env["HINDSIGHT_LOG_LEVEL"] == "WARNING"
    assert env["HINDSIGHT_API_RETAIN_CHUNK_SIZE"] == "2000"  # per-bank defaults pass through: the server reads them
    assert not {"HINDSIGHT_API_PORT", "HINDSIGHT_API_LLM_API_KEY", "HINDSIGHT_LLM_REFLECT_MODEL"} & set(env)


def test_hindsight_api_accepts_upstreams_options():
    from hindsight.api_main import build_parser

    args = build_parser().parse_args(["--port", "9123", "--idle-timeout", "0", "--workers", "2", "--no-access-log"])
    assert (args.port, args.idle_timeout, args.host) == (9123, 0, "127.0.0.1")
