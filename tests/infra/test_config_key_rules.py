"""infra/config_keys.py on its own: which configured keys are unknown, and the hint each problem gives.
Pure functions, no program run; mapped by tests/mutation.toml to infra/config_keys.py."""

from __future__ import annotations

import pytest

from infra.config_keys import aws_provider_config_keys, unknown_key_problems


def test_the_aws_provider_keys_are_read_from_its_sdk() -> None:
    # pulumi_aws/config/vars.py reads region and profile with get, skipCredentialsValidation with get_bool.
    keys = aws_provider_config_keys()
    assert {"region", "profile", "accessKey", "skipCredentialsValidation", "defaultTags"} <= set(keys)
    assert list(keys) == sorted(set(keys))


@pytest.mark.parametrize(
    "key",
    ["sagestack:owner", "aws:region", "aws:skipCredentialsValidation", "pulumi:tags", "pulumi:anything"],
)
def test_declared_provider_and_pulumi_keys_have_no_problems(key: str) -> None:
    assert unknown_key_problems([key]) == []


def test_a_removed_key_is_left_to_its_own_error() -> None:
    assert unknown_key_problems(["sagestack:driftEngine"]) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("owner", "config key 'owner' has no namespace: expected sagestack:<key>"),
        (
            "sagestack:ownr",
            "unknown config key 'sagestack:ownr': Pulumi.yaml declares no 'ownr'; did you mean sagestack:owner?",
        ),
        ("sagestack:zzzzzzzz", "unknown config key 'sagestack:zzzzzzzz': Pulumi.yaml declares no 'zzzzzzzz'"),
        (
            "aws:regoin",
            "unknown config key 'aws:regoin': the aws provider has no 'regoin'; did you mean aws:region?",
        ),
        ("aws:zzzzzzq", "unknown config key 'aws:zzzzzzq': the aws provider has no 'zzzzzzq'"),
        (
            "awz:region",
            "unknown config namespace 'awz' in 'awz:region': expected one of sagestack, aws, pulumi; "
            "did you mean aws:region?",
        ),
        (
            "sagestak:owner",
            "unknown config namespace 'sagestak' in 'sagestak:owner': expected one of sagestack, aws, pulumi; "
            "did you mean sagestack:owner?",
        ),
        ("qqqqq:x", "unknown config namespace 'qqqqq' in 'qqqqq:x': expected one of sagestack, aws, pulumi"),
    ],
)
def test_each_unknown_key_is_named_with_the_closest_known_one(key: str, problem: str) -> None:
    assert unknown_key_problems([key]) == [problem]


def test_problems_come_once_each_in_key_order() -> None:
    problems = unknown_key_problems(
        ["sagestack:zzzzzzzz", "owner", "aws:zzzzzzq", "owner", "sagestack:owner"]
    )
    assert [p.split("'")[1] for p in problems] == ["aws:zzzzzzq", "owner", "sagestack:zzzzzzzz"]


def test_the_namespace_is_what_precedes_the_first_colon() -> None:
    assert unknown_key_problems(["sagestack:owner:x"]) == [
        "unknown config key 'sagestack:owner:x': Pulumi.yaml declares no 'owner:x'; did you mean sagestack:owner?"
    ]
