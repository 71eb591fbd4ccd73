"""Destination settings are checked per kind when the file loads; secrets are read when a destination is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from escalation.destinations import (
    FreshdeskDestination,
    SlackDestination,
    TeamsDestination,
    WebhookDestination,
    ZendeskDestination,
    build_destination,
)
from journeypulse.config import DestinationConfig, load_settings
from journeypulse.errors import ConfigError

VALID = {
    "webhook": {"url": "https://hooks.acme.example/jp", "secrets": {"signing_key": "JP_HOOK_KEY"}},
    "slack": {"secrets": {"url": "SLACK_URL"}},
    "teams": {"secrets": {"url": "TEAMS_URL"}},
    "zendesk": {"url": "https://acme.zendesk.com/", "secrets": {"email": "ZD_EMAIL", "api_token": "ZD_TOKEN"},
                "params": {"tags": ["social"], "group_id": 3}},
    "freshdesk": {"url": "https://acme.freshdesk.com", "secrets": {"api_key": "FD_KEY"},
                  "params": {"requester_email": "social@acme.example", "source": 2}},
}
ENV = {"JP_HOOK_KEY": "k", "SLACK_URL": "https://hooks.slack.com/services/T/B/x", "ZD_EMAIL": "a@acme.example",
       "TEAMS_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=s",
       "ZD_TOKEN": "t", "FD_KEY": "f"}
CLASSES = {"webhook": WebhookDestination, "slack": SlackDestination, "teams": TeamsDestination,
           "zendesk": ZendeskDestination, "freshdesk": FreshdeskDestination}


def _config(kind: str, **changes: object) -> DestinationConfig:
    return DestinationConfig.model_validate({"kind": kind, **VALID[kind], **changes})


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_kind_builds_its_destination_from_the_environment(kind: str) -> None:
    destination = build_destination("primary", _config(kind), ENV)

    assert isinstance(destination, CLASSES[kind])
    assert (destination.name, destination.kind) == ("primary", kind)
    destination.close()  # type: ignore[attr-defined]


def test_a_helpdesk_base_url_loses_its_trailing_slash() -> None:
    assert _config("zendesk").url == "https://acme.zendesk.com"


@pytest.mark.parametrize(("kind", "changes", "problem"), [
    ("webhook", {"secrets": {}}, "needs secrets: signing_key"),
    ("zendesk", {"secrets": {"email": "ZD_EMAIL"}}, "needs secrets: api_token"),
    ("freshdesk", {"params": {}}, "needs params: requester_email"),
    ("freshdesk", {"params": {"requester_email": "not-an-address"}}, "must be an e-mail address"),
    ("freshdesk", {"params": {"requester_email": "a@b.co", "source": 5}}, "Freshdesk's ticket sources"),
    ("zendesk", {"params": {"group": 3}}, "does not take params: group"),
    ("zendesk", {"params": {"tags": "social"}}, "list of tags"),
    ("zendesk", {"params": {"group_id": "support"}}, "numeric id"),
    ("slack", {"secrets": {"token": "X"}}, "does not take secrets: token"),
    ("slack", {"secrets": {}}, "exactly one of url and secrets.url"),
    ("slack", {"url": "https://hooks.slack.com/services/x"}, "exactly one of url and secrets.url"),
    ("webhook", {"url": "http://hooks.acme.example/jp"}, "must be an https URL"),
    ("zendesk", {"url": "https://acme.zendesk.com/api/v2"}, "without a path"),
    ("zendesk", {"url": None}, "needs url"),
    ("freshdesk", {"secrets": {"api_key": "sk_live_abc-123"}}, "must name an environment variable"),
])
def test_a_destination_that_does_not_fit_its_kind_is_rejected_when_the_settings_load(
        kind: str, changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        _config(kind, **changes)
    assert "sk_live" not in str(caught.value).split("input_value")[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/h"])
def test_plain_http_is_allowed_to_a_loopback_host(url: str) -> None:
    assert _config("webhook", url=url).url == url


@pytest.mark.parametrize(("kind", "missing"), [("webhook", "JP_HOOK_KEY"), ("slack", "SLACK_URL"),
                                               ("zendesk", "ZD_TOKEN"), ("freshdesk", "FD_KEY")])
def test_an_unset_secret_is_a_config_error_naming_its_env_var(kind: str, missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}

    with pytest.raises(ConfigError, match=f"{kind} destination 'primary': env var {missing} .* is not set"):
        build_destination("primary", _config(kind), env)


def test_a_url_env_var_that_holds_no_https_url_is_a_config_error_that_does_not_echo_it() -> None:
    env = {**ENV, "SLACK_URL": "hooks.slack.com/services/T/B/s3cret"}

    with pytest.raises(ConfigError, match="env var SLACK_URL must be an https URL") as caught:
        build_destination("primary", _config("slack"), env)
    assert "s3cret" not in str(caught.value)


def test_a_secret_pasted_into_the_settings_file_is_rejected_without_being_echoed(tmp_path: Path) -> None:
    path = tmp_path / "journeypulse.yaml"
    path.write_text(
        "brands: [{name: Acme Bank}]\n"
        "escalation:\n"
        "  destinations:\n"
        "    fd:\n"
        "      kind: freshdesk\n"
        "      url: https://acme.freshdesk.com\n"
        "      secrets: {api_key: 'Xy9-live-key-pasted'}\n"
        "      params: {requester_email: social@acme.example}\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="escalation.destinations.fd: .*secrets.api_key must name an environment "
                                          "variable") as caught:
        load_settings(path)
    assert "Xy9-live-key-pasted" not in str(caught.value)
