"""The settings' derived rules: which addresses are loopback, when the control plane needs a
generated admin token, and where the database is by default."""

from pathlib import Path

import pytest

from app.config import Settings, is_loopback, needs_generated_admin_token


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
