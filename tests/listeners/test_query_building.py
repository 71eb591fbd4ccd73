"""Query building: brand terms become per-source queries with stable keys and length limits."""

from __future__ import annotations

import pytest
from _net_a_helpers import BRANDS, make_source
from pydantic import BaseModel, ConfigDict

from journeypulse.config import BrandConfig
from journeypulse.errors import ConfigError
from listeners.query_building import (
    group_by_key,
    parse_params,
    quote_term,
    reddit_query_groups,
    select_brands,
    single_term_groups,
    x_query_groups,
)


def test_x_query_ors_terms_and_languages_and_excludes_retweets() -> None:
    (group,) = x_query_groups(BRANDS)
    assert group.query == (
        '(NimbusCard OR #nimbus OR Nimbus OR นิมบัส OR "Nimbus Pay") (lang:en OR lang:th OR lang:vi) -is:retweet'
    )
    assert group.brand == "Nimbus" and group.terms == ("NimbusCard", "#nimbus", "Nimbus", "นิมบัส", "Nimbus Pay")


def test_terms_repeated_in_another_case_are_searched_once() -> None:
    brand = BrandConfig(name="Acme", aliases=["ACME", "acme"], keywords=["Acme"])
    (group,) = x_query_groups([brand], exclude_retweets=False)
    assert group.query == "Acme"


def test_long_term_lists_split_into_several_queries_within_the_limit() -> None:
    brand = BrandConfig(name="Acme", keywords=[f"acme product number {i}" for i in range(40)], languages=["th"])
    groups = x_query_groups([brand], max_length=512)
    assert len(groups) > 1
    assert all(len(g.query) <= 512 and g.query.endswith("lang:th -is:retweet") for g in groups)
    searched = [term for g in groups for term in g.terms]
    assert searched == brand.terms()  # every term once, in order
    assert len({g.key for g in groups}) == len(groups)


def test_keys_are_stable_across_builds_and_change_when_the_query_changes() -> None:
    first, second = x_query_groups(BRANDS), x_query_groups(BRANDS)
    assert [g.key for g in first] == [g.key for g in second] and first[0].key.startswith("nimbus:")
    changed = BrandConfig(**{**BRANDS[0].model_dump(), "keywords": ["nimbus wallet"]})
    assert x_query_groups([changed])[0].key != first[0].key


def test_a_term_too_long_for_any_query_is_a_config_error() -> None:
    brand = BrandConfig(name="Acme", keywords=["x" * 600])
    with pytest.raises(ConfigError, match="longer than 512"):
        x_query_groups([brand])


def test_quoting_keeps_hashtags_bare_and_quotes_phrases_and_operators() -> None:
    assert quote_term("#nimbus") == "#nimbus"
    assert quote_term("Nimbus Pay") == '"Nimbus Pay"'
    assert quote_term("e-wallet") == '"e-wallet"'
    assert quote_term("นิมบัส") == "นิมบัส"


def test_reddit_queries_quote_every_term_and_drop_the_hash() -> None:
    (group,) = reddit_query_groups(BRANDS)
    assert group.query == '"NimbusCard" OR "nimbus" OR "Nimbus" OR "นิมบัส" OR "Nimbus Pay"'


def test_single_term_groups_give_readable_keys_and_hashtags_without_the_hash() -> None:
    tags = single_term_groups(BRANDS, prefix="tag", hashtags_only=True)
    assert [(g.key, g.query) for g in tags] == [("nimbus:tag:nimbus", "nimbus")]
    assert len(single_term_groups(BRANDS, prefix="q")) == 5


def test_source_brand_filter_selects_and_rejects_unknown_brands() -> None:
    other = BrandConfig(name="Other")
    source = make_source("x").model_copy(update={"brands": ["Nimbus"]})
    assert select_brands(source, [*BRANDS, other]) == list(BRANDS)
    assert select_brands(make_source("x"), [*BRANDS, other]) == [*BRANDS, other]
    with pytest.raises(ConfigError, match="'Missing'"):
        select_brands(source.model_copy(update={"brands": ["Missing"]}), BRANDS)


def test_duplicate_keys_are_refused() -> None:
    (group,) = x_query_groups(BRANDS)
    with pytest.raises(ConfigError, match="share key"):
        group_by_key([group, group], what="x source")


def test_params_errors_name_the_field_and_the_source() -> None:
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        page_size: int = 10

    assert parse_params(Params, make_source("x", {"page_size": 5})).page_size == 5
    with pytest.raises(ConfigError, match=r"x source 'test_x': params.page_size: .*sources\[test_x\]"):
        parse_params(Params, make_source("x", {"page_size": "many"}))
    with pytest.raises(ConfigError, match="params.colour"):
        parse_params(Params, make_source("x", {"colour": "red"}))
