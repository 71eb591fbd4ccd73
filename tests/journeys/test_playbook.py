"""The handling playbook loads validated, covers the taxonomy and picks the most specific rule."""

import copy

import pytest
import yaml

from journeypulse.errors import ConfigError
from journeys.playbook import BUNDLED_PLAYBOOK, REPLY_LANGUAGES, build_playbook, load_playbook
from journeys.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture
def raw():
    return yaml.safe_load(BUNDLED_PLAYBOOK.read_text(encoding="utf-8"))


def test_the_bundled_playbook_names_only_taxonomy_entries_and_has_a_rule_for_each(taxonomy):
    playbook = load_playbook(taxonomy=taxonomy)
    for stage in taxonomy.stage_names:
        assert playbook.suggest(stage).rule == f"stage_{stage}"
    for pain in taxonomy.pain_points:
        assert playbook.suggest(pain.stages[0], pain_point=pain.name).rule.startswith(f"pain_{pain.name}")
    for signal in taxonomy.exit_signals:
        assert playbook.suggest(signal.stages[0], exit_signal=signal.name).rule == f"exit_{signal.name}"


def test_every_bundled_rule_has_a_reply_in_every_language():
    playbook = load_playbook()
    for rule in playbook.rules:
        assert set(rule.replies) == set(REPLY_LANGUAGES), rule.id


def test_the_most_specific_rule_wins():
    playbook = load_playbook()
    assert playbook.suggest("support", pain_point="rude_agent").rule == "pain_rude_agent_support"
    assert playbook.suggest("delivery", pain_point="rude_agent").rule == "pain_rude_agent_delivery"
    assert playbook.suggest("usage", pain_point="rude_agent").rule == "pain_rude_agent"
    assert playbook.suggest("exit", "refund_delay", "refund_request").rule == "exit_refund_delay"
    assert playbook.suggest("support", pain_point="long_wait").rule == "pain_long_wait"


def test_an_unknown_context_gets_the_fallback_rule():
    suggestion = load_playbook().suggest("no_such_stage")
    assert suggestion.rule == "default"
    assert suggestion.action


def test_a_reply_falls_back_to_english_for_a_language_without_one(raw):
    for rule in raw["rules"]:
        rule["reply"] = {"en": rule["reply"]["en"], "th": rule["reply"]["th"]}
    suggestion = build_playbook(raw).suggest("support")
    assert suggestion.reply("th") == raw["rules"][[r["id"] for r in raw["rules"]].index("stage_support")]["reply"]["th"]
    assert suggestion.reply("vi") == suggestion.replies["en"]
    assert suggestion.reply(None) == suggestion.replies["en"]


def test_equally_specific_rules_go_by_file_order():
    raw = {"version": "t", "rules": [
        {"id": "by_stage", "when": {"stage": "support"}, "action": "a", "reply": {"en": "stage"}},
        {"id": "by_pain", "when": {"pain_point": "long_wait"}, "action": "b", "reply": {"en": "pain"}},
        {"id": "default", "when": {}, "action": "c", "reply": {"en": "any"}},
    ]}
    assert build_playbook(raw).suggest("support", pain_point="long_wait").rule == "by_stage"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["rules"][0].pop("action"), r"rules\.0\.action: Field required"),
        (lambda r: r["rules"][0]["reply"].pop("en"), r"rules\.0\.reply: .*English \(en\) reply is required"),
        (lambda r: r["rules"][0]["reply"].update(fr="Bonjour"), r"rules\.0\.reply: .*\['fr'\] are not among"),
        (lambda r: r["rules"][0]["when"].update(channel="x"), r"rules\.0\.when\.channel: Extra inputs"),
        (lambda r: r["rules"][1].update(id=r["rules"][0]["id"]), r"rule id 'exit_switch_to_competitor' appears twice"),
        (lambda r: r["rules"].pop(), r"no fallback rule"),
        (lambda r: r["rules"][1].update(when=copy.deepcopy(r["rules"][0]["when"])), r"have the same `when`"),
    ],
)
def test_invalid_playbooks_raise_config_errors_naming_the_field(raw, mutate, message):
    mutate(raw)
    with pytest.raises(ConfigError, match=message):
        build_playbook(raw)


def test_a_name_missing_from_the_taxonomy_is_named_with_its_rule(raw, taxonomy):
    raw["rules"][0]["when"] = {"exit_signal": "churn"}
    with pytest.raises(ConfigError, match=r"rules\.0 \(exit_switch_to_competitor\)\.when\.exit_signal: 'churn' is not"):
        build_playbook(raw, taxonomy=taxonomy)


def test_a_missing_or_broken_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_playbook(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_playbook(broken)
