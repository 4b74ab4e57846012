"""policy/guardrails values (reading props during a preview), tags and instance storage, as units: no
program run, no pack run (test_policy_pack_offline.py runs the pack over every stack)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from policy.guardrails import instance_storage, tags, values
from policy.guardrails.adapters import StackResource
from policy.guardrails.resource_types import AWS_PROVIDER

SENTINELS = [
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
]


# --- values ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sentinel", SENTINELS)
def test_every_pulumi_policy_unknown_sentinel_is_unknown(sentinel: str) -> None:
    assert values.is_unknown(sentinel)
    with pytest.raises(values.Unknown):
        values.known(sentinel)


@pytest.mark.parametrize("value", ["", "true", 3, None, [UNKNOWN_STRING_VALUE]])
def test_ordinary_values_are_known(value: Any) -> None:
    assert not values.is_unknown(value)
    assert values.known(value) == value


def test_plain_copies_the_policy_proxies_keeping_unknowns_as_sentinels() -> None:
    proxied = unknown_checking_proxy(
        {
            "name": "b",
            "arn": UNKNOWN_STRING_VALUE,
            "rules": [{"days": 7}, UNKNOWN_OBJECT_VALUE],
            "nested": {"ids": [1, UNKNOWN_NUMBER_VALUE]},
            "raw": b"x",
        }
    )
    copied = values.plain(proxied)
    assert copied == {
        "name": "b",
        "arn": UNKNOWN_STRING_VALUE,
        "rules": [{"days": 7}, UNKNOWN_OBJECT_VALUE],
        "nested": {"ids": [1, UNKNOWN_NUMBER_VALUE]},
        "raw": b"x",
    }
    assert type(copied) is dict and type(copied["rules"]) is list and type(copied["nested"]["ids"]) is list


def test_get_follows_a_path_of_keys_and_indexes() -> None:
    props = {"a": [{"b": "x"}, {"b": "y"}], "n": 0}
    assert values.get(props, "a", 1, "b") == "y"
    assert values.get(props, "a", 0) == {"b": "x"}
    assert values.get(props) == props


@pytest.mark.parametrize(
    "path",
    [("missing",), ("a", 2), ("a", 5, "b"), ("n", "x"), ("n", 0), ("a", "b"), ("a", 0, "c")],
)
def test_get_answers_none_where_the_path_is_absent(path: tuple[str | int, ...]) -> None:
    assert values.get({"a": [{"b": "x"}, {"b": "y"}], "n": 0}, *path) is None


@pytest.mark.parametrize(
    ("props", "path"),
    [
        (UNKNOWN_OBJECT_VALUE, ("a",)),
        ({"a": UNKNOWN_ARRAY_VALUE}, ("a", 0)),
        ({"a": [UNKNOWN_OBJECT_VALUE]}, ("a", 0, "b")),
        ({"a": {"b": UNKNOWN_STRING_VALUE}}, ("a", "b")),
    ],
)
def test_get_raises_unknown_at_any_unknown_step(props: Any, path: tuple[str | int, ...]) -> None:
    with pytest.raises(values.Unknown):
        values.get(props, *path)


def test_items_normalises_absent_and_lone_values_and_checks_each() -> None:
    assert values.items({}, "rules") == []
    assert values.items({"rules": None}, "rules") == []
    assert values.items({"rules": {"id": 1}}, "rules") == [{"id": 1}]
    assert values.items({"x": {"rules": [1, 2]}}, "x", "rules") == [1, 2]
    with pytest.raises(values.Unknown):
        values.items({"rules": [1, UNKNOWN_OBJECT_VALUE]}, "rules")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("True", True), ("TRUE", True), (False, False), ("false", False),
     ("yes", False), (1, False), (None, False), ("", False)],
)  # fmt: skip
def test_truthy_accepts_booleans_and_their_json_strings_only(value: Any, expected: bool) -> None:
    assert values.truthy(value) is expected


def test_truthy_of_an_unknown_is_unknown() -> None:
    with pytest.raises(values.Unknown):
        values.truthy(UNKNOWN_BOOLEAN_VALUE)


def test_as_list_of_a_policy_field() -> None:
    assert values.as_list(None) == []
    assert values.as_list("s3:GetObject") == ["s3:GetObject"]
    source = ["a", "b"]
    copied = values.as_list(source)
    assert copied == ["a", "b"] and copied is not source
    assert values.as_list({"k": 1}) == [{"k": 1}]


# --- tags -----------------------------------------------------------------------------------------------

CONFIG = {"requiredTags": ["project", "owner"]}
GOOD_TAGS = {"tags": {"project": "sagestack", "owner": "ml"}}


def _resource(
    name: str = "b",
    type_: str = "aws:s3/bucket:Bucket",
    provider_type: str | None = AWS_PROVIDER,
    provider_name: str | None = "aws",
    provider_props: dict[str, Any] | None = None,
) -> StackResource:
    return StackResource(
        type=type_,
        name=name,
        urn=f"urn:pulumi:dev::sagestack::{type_}::{name}",
        props={},
        provider_type=provider_type,
        provider_name=provider_name,
        provider_props={"defaultTags": GOOD_TAGS} if provider_props is None else provider_props,
    )


@pytest.mark.parametrize(
    "provider_props",
    [
        {"defaultTags": GOOD_TAGS},
        # The engine may hand provider config over as JSON strings (module docstring of tags.py).
        {"defaultTags": '{"tags": {"project": "sagestack", "owner": "ml"}}'},
        {"defaultTags": {"tags": '{"project": "sagestack", "owner": "ml"}'}},
    ],
)
def test_provider_default_tags_reads_objects_and_json_strings(provider_props: dict[str, Any]) -> None:
    assert tags.provider_default_tags(provider_props) == {"project": "sagestack", "owner": "ml"}


@pytest.mark.parametrize(
    "provider_props",
    [{}, {"defaultTags": None}, {"defaultTags": ""}, {"defaultTags": {}}, {"defaultTags": {"tags": ""}}],
)
def test_provider_default_tags_of_nothing_is_empty(provider_props: dict[str, Any]) -> None:
    assert tags.provider_default_tags(provider_props) == {}


def test_provider_default_tags_of_an_unknown_is_unknown() -> None:
    with pytest.raises(values.Unknown):
        tags.provider_default_tags({"defaultTags": UNKNOWN_OBJECT_VALUE})
    with pytest.raises(values.Unknown):
        tags.provider_default_tags({"defaultTags": {"tags": UNKNOWN_OBJECT_VALUE}})


def test_resources_through_a_tagged_explicit_provider_pass() -> None:
    assert list(tags.check_required_tags([_resource(), _resource("k", "aws:kms/key:Key")], CONFIG)) == []


def test_non_aws_resources_are_not_checked() -> None:
    resource = _resource(type_="pulumi-python:dynamic/sagestack:EndpointRollout", provider_type=None)
    assert list(tags.check_required_tags([resource], CONFIG)) == []


@pytest.mark.parametrize(
    ("provider_type", "provider_name"),
    [(None, None), (AWS_PROVIDER, "default_6_50_0"), ("pulumi:providers:random", "r")],
)
def test_a_resource_on_the_default_or_no_aws_provider_is_flagged(
    provider_type: str | None, provider_name: str | None
) -> None:
    resource = _resource(provider_type=provider_type, provider_name=provider_name)
    assert list(tags.check_required_tags([resource], CONFIG)) == [
        (
            "aws:s3/bucket:Bucket b: uses the default aws provider, which sets no default tags; pass the "
            "stack's explicit provider",
            resource.urn,
        )
    ]


def test_missing_or_blank_required_tags_are_flagged_once_per_provider() -> None:
    props = {"defaultTags": {"tags": {"project": " ", "extra": "x"}}}
    first, second = _resource("b", provider_props=props), _resource("c", provider_props=props)
    other = _resource("d", provider_name="aws-other", provider_props={"defaultTags": {"tags": {"owner": 3}}})
    assert list(tags.check_required_tags([first, second, other], CONFIG)) == [
        (
            "aws provider aws: defaultTags.tags lacks project, owner (used by aws:s3/bucket:Bucket b and others)",
            first.urn,
        ),
        (
            "aws provider aws-other: defaultTags.tags lacks project, owner (used by aws:s3/bucket:Bucket d and others)",
            other.urn,
        ),
    ]


def test_a_provider_with_unknown_tags_is_skipped() -> None:
    resource = _resource(provider_props={"defaultTags": UNKNOWN_OBJECT_VALUE})
    assert list(tags.check_required_tags([resource], CONFIG)) == []


def test_every_resource_is_checked_past_skipped_and_flagged_ones() -> None:
    rollout = _resource("r", "pulumi-python:dynamic/sagestack:EndpointRollout", provider_type=None)
    unknown = _resource(
        "u", provider_name="aws-preview", provider_props={"defaultTags": UNKNOWN_OBJECT_VALUE}
    )
    first, second = (
        _resource("d1", provider_name="default_6_50_0"),
        _resource("d2", provider_name="default_6_50_0"),
    )
    untagged = _resource("t", provider_name="aws-untagged", provider_props={"defaultTags": {"tags": {}}})
    findings = list(tags.check_required_tags([rollout, first, unknown, second, untagged], CONFIG))
    assert [urn for _, urn in findings] == [first.urn, second.urn, untagged.urn]


def test_the_required_tags_are_the_stacks_four() -> None:
    assert tags.REQUIRED_TAGS == ("project", "stack", "owner", "cost-centre")


# --- instance storage -----------------------------------------------------------------------------------


# Instance types with NVMe instance store: the "d" families and g5/g6/g6e/p5/p5e/p5en/trn1/trn1n/inf2
# (Amazon EC2 instance store volumes table, https://docs.aws.amazon.com/ec2/latest/instancetypes/).
@pytest.mark.parametrize(
    ("instance_type", "nvme"),
    [("ml.m5d.large", True), ("ml.c6gd.xlarge", True), ("ml.g4dn.xlarge", True), ("ml.p4de.24xlarge", True),
     ("ml.g5.xlarge", True), ("ml.g6e.xlarge", True), ("ml.p5en.48xlarge", True), ("ml.trn1n.32xlarge", True),
     ("ml.inf2.xlarge", True), ("ml.m5.large", False), ("ml.c5.xlarge", False), ("ml.t2.medium", False),
     ("ml.g4.xlarge", False), ("ml.inf1.xlarge", False), ("m5d.large", False), ("ml.g5", False),
     ("xml.m5d.large", False)],
)  # fmt: skip
def test_instance_storage_by_family(instance_type: str, nvme: bool) -> None:
    assert instance_storage.has_instance_storage(instance_type) is nvme
