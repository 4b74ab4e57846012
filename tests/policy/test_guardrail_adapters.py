"""policy/guardrails/adapters.py as a unit: references between resources, and the pulumi-policy objects a
check becomes, driven with hand-built engine arguments (no program run, no pack run)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.guardrails import adapters
from policy.guardrails.adapters import UNRESOLVED, StackResource
from policy.guardrails.values import Unknown
from tests.policy import resources

SCHEMA = PolicyConfigSchema(
    properties={
        "limit": {"type": "number", "default": 3},
        "names": {"type": "array", "items": {"type": "string"}},
    }
)


def res(
    name: str, props: dict[str, Any], deps: dict[str, set[str]] | None = None, type_: str = "t"
) -> StackResource:
    """The shared hand-built resource, named first: these tests rarely care about the type."""
    return resources.res(type_, name, props, deps)


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


# --- StackResource and references -----------------------------------------------------------------------


def test_identities_are_the_known_non_empty_string_names_a_reference_may_hold() -> None:
    props = {
        "id": "i-1",
        "name": "n",
        "bucket": "b",
        "arn": "arn:x",
        "alarmName": "a",
        "endpointName": "e",
        "tags": "not-an-identity",
    }
    assert res("r", props).identities == {"i-1", "n", "b", "arn:x", "a", "e"}
    assert res("r", {"id": "", "name": UNKNOWN_STRING_VALUE, "arn": 5}).identities == set()


def test_of_type_keeps_only_that_type_in_order() -> None:
    a, b, c = res("a", {}, type_="x"), res("b", {}, type_="y"), res("c", {}, type_="x")
    assert adapters.of_type([a, b, c], "x") == [a, c]


def test_a_reference_resolves_by_dependency_before_value() -> None:
    first, second = res("first", {"id": "1"}), res("second", {"id": "2"})
    sub = res("sub", {"bucket": "1"}, {"bucket": {"urn:second"}})
    assert adapters.referenced(sub, "bucket", [first, second]) is second


def test_a_reference_resolves_by_any_identity_of_the_target() -> None:
    target = res("target", {"id": "i", "arn": "arn:t"})
    assert (
        adapters.referenced(res("s", {"bucket": "arn:t"}), "bucket", [res("o", {"id": "x"}), target])
        is target
    )
    assert adapters.referenced(res("s", {"bucket": "nothing"}), "bucket", [target]) is None
    assert adapters.referenced(res("s", {}), "bucket", [target]) is None
    assert adapters.referenced(res("s", {"bucket": "i"}, {"other": {"urn:o"}}), "bucket", [target]) is target


def test_a_reference_not_known_yet_is_unresolved() -> None:
    assert adapters.referenced(
        res("s", {"bucket": UNKNOWN_STRING_VALUE}), "bucket", [res("t", {"id": "i"})]
    ) is (UNRESOLVED)


def test_attached_groups_sub_resources_by_target_and_flags_unresolved_ones() -> None:
    a, b = res("a", {"id": "a"}), res("b", {"id": "b"})
    on_a, also_a, on_b = res("s1", {"bucket": "a"}), res("s2", {"bucket": "a"}), res("s3", {"bucket": "b"})
    stray = res("s4", {"bucket": "zzz"})
    by_target, unresolved = adapters.attached([a, b], [on_a, stray, on_b, also_a], "bucket")
    assert by_target == {"urn:a": [on_a, also_a], "urn:b": [on_b]}
    assert unresolved is False
    pending = res("s5", {"bucket": UNKNOWN_STRING_VALUE})
    by_target, unresolved = adapters.attached([a], [pending, on_a], "bucket")
    assert by_target == {"urn:a": [on_a]} and unresolved is True
    assert adapters.attached([], [], "bucket") == ({}, False)


# --- stack_resources ------------------------------------------------------------------------------------


def test_stack_resources_copies_props_provider_and_property_dependencies() -> None:
    provider = PolicyProviderResource(
        "pulumi:providers:aws", unknown_checking_proxy({"region": "eu-west-1"}), "urn:prov", "aws-main"
    )
    bucket = PolicyResource(
        "aws:s3/bucket:Bucket",
        unknown_checking_proxy({"bucket": "b", "arn": UNKNOWN_STRING_VALUE}),
        "urn:bucket",
        "data",
        options(),
        provider,
        None,
        [],
        {},
    )
    sub = PolicyResource(
        "aws:s3/bucketVersioning:BucketVersioning",
        unknown_checking_proxy({"bucket": "b"}),
        "urn:sub",
        "data-versioning",
        options(),
        None,
        None,
        [bucket],
        {"bucket": [bucket], "none": []},
    )
    got = adapters.stack_resources(StackValidationArgs([bucket, sub], {}))
    assert got == [
        StackResource(
            type="aws:s3/bucket:Bucket",
            name="data",
            urn="urn:bucket",
            props={"bucket": "b", "arn": UNKNOWN_STRING_VALUE},
            provider_type="pulumi:providers:aws",
            provider_name="aws-main",
            provider_props={"region": "eu-west-1"},
            dependency_urns={},
        ),
        StackResource(
            type="aws:s3/bucketVersioning:BucketVersioning",
            name="data-versioning",
            urn="urn:sub",
            props={"bucket": "b"},
            provider_type=None,
            provider_name=None,
            provider_props={},
            dependency_urns={"bucket": {"urn:bucket"}, "none": set()},
        ),
    ]
    assert type(got[0].props) is dict and type(got[0].provider_props) is dict


# --- resource and stack policies ------------------------------------------------------------------------


def test_config_is_the_schema_defaults_overridden_by_the_pack_config() -> None:
    assert adapters._config(SCHEMA, None) == {"limit": 3}
    assert adapters._config(SCHEMA, {"limit": 9, "names": ["x"]}) == {"limit": 9, "names": ["x"]}
    assert adapters._config(None, {"a": 1}) == {"a": 1}
    assert adapters._config(None, None) == {}


def resource_args(props: dict[str, Any], config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        "aws:kms/key:Key", unknown_checking_proxy(props), "urn:key", "key", options(), None, config
    )


def test_a_resource_policy_reports_each_message_of_its_check_with_plain_props_and_config() -> None:
    seen: list[Any] = []

    def check(resource_type: str, props: dict[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
        seen.append((resource_type, props, type(props), config))
        yield "first"
        yield "second"

    policy = adapters.resource_policy("p-name", "p description", check, config_schema=SCHEMA)
    assert (policy.name, policy.description) == ("p-name", "p description")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    assert policy.severity == Severity.HIGH
    assert policy.config_schema is SCHEMA
    reports: list[tuple[str, str | None]] = []
    policy.validate(
        resource_args({"a": UNKNOWN_STRING_VALUE}, {"names": ["n"]}), lambda m, u: reports.append((m, u))
    )
    assert reports == [("first", None), ("second", None)]
    assert seen == [("aws:kms/key:Key", {"a": UNKNOWN_STRING_VALUE}, dict, {"limit": 3, "names": ["n"]})]


def test_a_resource_check_that_meets_an_unknown_stops_quietly_keeping_earlier_reports() -> None:
    def check(_type: str, _props: dict[str, Any], _config: Mapping[str, Any]) -> Iterable[str]:
        yield "before"
        raise Unknown

    policy = adapters.resource_policy("p", "d", check, severity=Severity.LOW)
    assert policy.severity == Severity.LOW and policy.config_schema is None
    reports: list[str] = []
    policy.validate(resource_args({}), lambda m, _u: reports.append(m))
    assert reports == ["before"]


def test_a_stack_policy_reports_each_message_with_its_urn() -> None:
    seen: list[Any] = []

    def check(resources: list[StackResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
        seen.append(([r.name for r in resources], config))
        yield "on the key", resources[0].urn
        yield "on the stack", None

    policy = adapters.stack_policy("s-name", "s description", check, config_schema=SCHEMA)
    assert (policy.name, policy.description) == ("s-name", "s description")
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    assert policy.severity == Severity.HIGH
    assert policy.config_schema is SCHEMA
    key = PolicyResource(
        "aws:kms/key:Key", unknown_checking_proxy({}), "urn:key", "key", options(), None, None, [], {}
    )
    reports: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs([key], {"limit": 1}), lambda m, u: reports.append((m, u)))
    assert reports == [("on the key", "urn:key"), ("on the stack", None)]
    assert seen == [(["key"], {"limit": 1})]
    low = adapters.stack_policy("s", "d", check, severity=Severity.LOW)
    assert low.severity == Severity.LOW and low.config_schema is None


def test_a_stack_policy_fills_in_its_schemas_defaults() -> None:
    seen: list[Mapping[str, Any]] = []

    def check(_resources: list[StackResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str | None]]:
        seen.append(config)
        return []

    policy = adapters.stack_policy("s", "d", check, config_schema=SCHEMA)
    policy.validate(StackValidationArgs([], {}), lambda _m, _u: None)
    assert seen == [{"limit": 3}]
