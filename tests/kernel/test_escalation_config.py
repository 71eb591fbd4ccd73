"""The escalation section of the settings: rules are validated like the rest of the file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from journeypulse.config import load_settings
from journeypulse.errors import ConfigError

HOOK = {"kind": "webhook", "url": "http://127.0.0.1:8765/escalations", "secrets": {"signing_key": "JP_HMAC_KEY"}}


def write(tmp_path: Path, escalation: dict[str, Any]) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"brands": [{"name": "Acme"}], "escalation": escalation}), encoding="utf-8")
    return path


def test_a_full_rule_loads_with_durations_and_quiet_hours(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, {"destinations": {"hook": HOOK}, "rules": [{
        "id": "payments", "destinations": ["hook"], "priority": "high", "pain_points": ["payment_failed"],
        "volume": {"min_mentions": 5, "window": "30m"}, "max_per_hour": 10,
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Ho_Chi_Minh"}}]}))
    (rule,) = settings.escalation.rules
    assert rule.volume is not None and rule.volume.window == timedelta(minutes=30)
    assert rule.quiet_hours is not None and rule.quiet_hours.timezone == "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize(("escalation", "message"), [
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["desk"]}]},
     r"rule 'a' names destinations \['desk'\] that are not configured"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"]},
                                                {"id": "a", "destinations": ["hook"]}]},
     "rule ids must be unique, repeated: a"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"],
                                                 "include_contact_details": True}]},
     "include_contact_details applies to ticket destinations"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"],
                                                 "quiet_hours": {"start": "22:00", "end": "07:00",
                                                                 "timezone": "Mars/Olympus"}}]},
     "unknown time zone 'Mars/Olympus'"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"], "min_confidence": 0.9,
                                                 "max_confidence": 0.2}]},
     "min_confidence is above max_confidence"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"], "sentiment": ["angry"]}]},
     r"escalation.rules\[0\].sentiment\[0\]"),
    ({"destinations": {"hook": HOOK}, "rules": [{"id": "a", "destinations": ["hook"], "stage": ["exit"]}]},
     r"escalation.rules\[0\].stage: Extra inputs are not permitted"),
])
def test_a_wrong_rule_is_a_config_error_naming_the_file_and_field(tmp_path: Path, escalation: dict[str, Any],
                                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, escalation))
