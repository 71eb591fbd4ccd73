"""Secrets can come from Airflow connections, copied into the env vars the config names at run time."""

from __future__ import annotations

import json
import logging
import os

import pytest

from journeypulse.errors import ConfigError
from step_runner import export_connection_secrets, parse_secret_connections

SECRET = "sk-test-6f1c2d9e8a"


def test_mapping_defaults_to_the_password_and_accepts_login_host_and_extra_keys() -> None:
    spec = "X_BEARER_TOKEN=journeypulse_x, REDDIT_CLIENT_ID=journeypulse_reddit:login, YT=jp_yt:extra.api_key"
    assert parse_secret_connections(spec) == {
        "X_BEARER_TOKEN": ("journeypulse_x", "password"),
        "REDDIT_CLIENT_ID": ("journeypulse_reddit", "login"),
        "YT": ("jp_yt", "extra.api_key"),
    }
    assert parse_secret_connections("") == {}


@pytest.mark.parametrize("entry", ["X_BEARER_TOKEN", "X=", "X=conn:schema", "not a var=conn", "X=conn:extra."])
def test_a_malformed_mapping_entry_is_rejected_with_the_expected_shape(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"VAR=connection_id\[:field\]"):
        parse_secret_connections(entry)


def test_connection_secrets_reach_the_named_env_vars_and_never_the_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    connection = {"conn_type": "generic", "login": "client-id-1", "password": SECRET, "extra": {"api_key": "k-42"}}
    monkeypatch.setenv("AIRFLOW_CONN_JOURNEYPULSE_X", json.dumps(connection))
    monkeypatch.setenv("JOURNEYPULSE_SECRET_CONNECTIONS", "JP_T_TOKEN=journeypulse_x,JP_T_ID=journeypulse_x:login,"
                                                          "JP_T_KEY=journeypulse_x:extra.api_key")
    for name in ("JP_T_TOKEN", "JP_T_ID", "JP_T_KEY"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.DEBUG):
        assert export_connection_secrets() == ["JP_T_ID", "JP_T_KEY", "JP_T_TOKEN"]
    assert (os.environ["JP_T_TOKEN"], os.environ["JP_T_ID"], os.environ["JP_T_KEY"]) == (SECRET, "client-id-1", "k-42")
    assert SECRET not in caplog.text and "k-42" not in caplog.text


def test_a_mapped_connection_that_does_not_exist_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYPULSE_SECRET_CONNECTIONS", "JP_T_TOKEN=journeypulse_missing")
    monkeypatch.delenv("AIRFLOW_CONN_JOURNEYPULSE_MISSING", raising=False)
    with pytest.raises(ConfigError, match="journeypulse_missing"):
        export_connection_secrets()
