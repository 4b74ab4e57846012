"""Unknown config keys (infra/config_keys.py): each problem's literal message, hint or no hint."""

from __future__ import annotations

from infra.config_keys import unknown_key_problems


def test_declared_provider_and_pulumi_keys_have_no_problem() -> None:
    assert unknown_key_problems(["aws:region", "sagestack:owner", "pulumi:template"]) == []


def test_a_key_without_namespace_names_the_expected_form() -> None:
    assert unknown_key_problems(["owner"]) == [
        "config key 'owner' has no namespace: expected sagestack:<key>"
    ]


def test_a_key_only_the_first_colon_splits() -> None:
    # Pulumi config keys are <namespace>:<name>; anything after the first colon is the name.
    [problem] = unknown_key_problems(["sagestack:owner:x"])
    assert problem.startswith("unknown config key 'sagestack:owner:x': Pulumi.yaml declares no 'owner:x'")


def test_an_unknown_aws_key_far_from_every_provider_key_has_no_hint() -> None:
    assert unknown_key_problems(["aws:qqqqqqqqqq"]) == [
        "unknown config key 'aws:qqqqqqqqqq': the aws provider has no 'qqqqqqqqqq'"
    ]


def test_an_unknown_namespace_lists_the_known_ones_with_or_without_a_hint() -> None:
    assert unknown_key_problems(["qqqq:owner", "sagestak:owner"]) == [
        "unknown config namespace 'qqqq' in 'qqqq:owner': expected one of sagestack, aws, pulumi",
        "unknown config namespace 'sagestak' in 'sagestak:owner': expected one of sagestack, aws, pulumi; "
        "did you mean sagestack:owner?",
    ]
