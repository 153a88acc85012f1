"""The settings' derived rules: which addresses are loopback, when the control plane needs a
generated admin token, where the database is by default, how the environment sets them, and
what the application built from them serves."""

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings, is_loopback, needs_generated_admin_token
from app.main import create_app
from app.methods import path_methods


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.test", False),
        ("", False),
    ],
)
def test_only_addresses_of_this_machine_are_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "admin_token", "generated"),
    [
        ("0.0.0.0", "", True),
        ("0.0.0.0", "chosen", False),
        ("127.0.0.1", "", False),
        ("localhost", "chosen", False),
    ],
)
def test_a_token_is_generated_only_for_a_network_address_without_one(host, admin_token, generated):
    settings = Settings(host=host, admin_token=admin_token)
    assert needs_generated_admin_token(settings) is generated


def test_the_database_is_a_file_in_the_data_directory_unless_a_url_is_given(tmp_path):
    relative = Settings(data_dir=Path("some/dir"))
    expected = (Path.cwd() / "some" / "dir" / "lse-emulator.sqlite3").resolve()
    assert relative.sqlalchemy_url() == f"sqlite:///{expected}"
    given = "postgresql+psycopg://postgres@127.0.0.1:5432/lse"
    assert Settings(data_dir=tmp_path, database_url=given).sqlalchemy_url() == given


def routed(app, path: str) -> bool:
    return path_methods(app, path) != ("", [])


def test_an_app_on_a_network_address_generates_its_admin_token_and_logs_it(caplog):
    caplog.set_level(logging.WARNING, logger="lse_emulator")
    app = create_app(Settings(host="0.0.0.0"))
    token = app.state.admin_token
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert [r.getMessage() for r in caplog.records if r.name == "lse_emulator"] == [
        f"control plane admin token (generated): {token}"
    ]
    assert create_app(Settings(host="0.0.0.0")).state.admin_token != token


@pytest.mark.parametrize(
    ("settings", "admin_token"),
    [({"host": "127.0.0.1"}, ""), ({"host": "0.0.0.0", "admin_token": "chosen"}, "chosen")],
)
def test_an_app_keeps_the_chosen_admin_token_or_none_on_loopback(settings, admin_token, caplog):
    app = create_app(Settings(**settings))
    assert app.state.admin_token == admin_token
    assert not [r for r in caplog.records if r.name == "lse_emulator"]


def test_an_app_serves_the_control_plane_only_when_enabled_and_keeps_the_journal_size():
    enabled = create_app(Settings(journal_size=3))
    assert routed(enabled, "/_emulator/clock") and routed(enabled, "/metrics")
    assert enabled.state.journal.entries.maxlen == 3
    disabled = create_app(Settings(control_enabled=False))
    assert not routed(disabled, "/_emulator/clock") and routed(disabled, "/metrics")


def test_the_environment_sets_each_setting_in_any_case_and_arguments_win(monkeypatch, tmp_path):
    monkeypatch.setenv("LSE_EMULATOR_PORT", "9000")
    monkeypatch.setenv("lse_emulator_control_enabled", "false")
    monkeypatch.setenv("LSE_EMULATOR_Seed_File", str(tmp_path / "seed.yaml"))
    monkeypatch.setenv("LSE_EMULATOR_BATCH_SIZE", "25")
    monkeypatch.setenv("LSE_EMULATOR_HOST", "0.0.0.0")
    monkeypatch.setenv("LSE_EMULATOR_NOT_A_SETTING", "ignored")
    settings = Settings(host="::1")
    assert settings.port == 9000
    assert settings.control_enabled is False
    assert settings.seed_file == tmp_path / "seed.yaml"
    assert settings.batch_size == 25
    assert settings.host == "::1"
    assert not hasattr(settings, "not_a_setting")


def test_an_invalid_value_in_the_environment_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("LSE_EMULATOR_PORT", "eighty")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert [e["loc"] for e in refused.value.errors()] == [("port",)]
    assert refused.value.errors()[0]["input"] == "eighty"
