"""The AWS identifier shapes (infra/arn_patterns.py) match whole values only, and settings refuse the rest.

The defect these pin: `^...$` with `.match` accepts a value with a trailing newline ("$" matches before it),
so "123456789012\\n" in aws:allowedAccountIds reached IAM policies. In-process only (< 1 s): no program runs.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import Loader

from infra.arn_patterns import (
    ACCOUNT_ID,
    KMS_KEY_ARN,
    MODEL_PACKAGE_ARN,
    MODEL_PACKAGE_GROUP_ARN,
    MODEL_PACKAGE_GROUP_NAME,
    POLICY_ARN,
)
from infra.config_schema import load_stack_config
from infra.settings import SettingsError, settings_from_values

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "111122223333"
OTHER = "444455556666"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{OTHER}:model-package/sagestack-prod-models/7"
KEY = f"arn:aws:kms:us-east-1:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ARABIC_INDIC_ACCOUNT = "١١١١٢٢٢٢٣٣٣٣"  # twelve digits to `\d`, none to AWS


# Whitespace around a value, as a YAML block scalar or a copy from a terminal leaves it.
def padded(value: str) -> list[str]:
    return [value + "\n", value + "\r\n", " " + value, value + " ", "\t" + value, value + "\n\n"]


@cache
def _botocore(name: str) -> dict[str, Any]:
    data: dict[str, Any] = Loader().load_data(name)
    return data


@cache
def _sagemaker_shape(shape: str) -> dict[str, Any]:
    found: dict[str, Any] = _sagemaker_model()["shapes"][shape]
    return found


@cache
def _sagemaker_model() -> dict[str, Any]:
    model: dict[str, Any] = Loader().load_service_model("sagemaker", "service-2")
    return model


def partitions() -> list[str]:
    return [p["id"] for p in _botocore("partitions")["partitions"]]


def regions() -> list[str]:
    # "aws-global" and the like are endpoint pseudo-regions, never part of a resource ARN.
    return [
        region
        for partition in _botocore("partitions")["partitions"]
        for region in partition["regions"]
        if not region.endswith("-global")
    ]


def package_arn(
    partition: str = "aws", region: str = "us-east-1", account: str = OTHER, rest: str = ""
) -> str:
    return f"arn:{partition}:sagemaker:{region}:{account}:model-package/{rest or 'sagestack-prod-models/7'}"


# --- account IDs ---------------------------------------------------------------------------------------


# "The ID of the AWS account that owns the resource, without the hyphens. For example, 123456789012."
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html); KMS AccountIdType is [0-9]{12}
# (botocore kms service-2.json).
def test_an_account_id_is_exactly_twelve_ascii_digits() -> None:
    assert ACCOUNT_ID.fullmatch("123456789012")
    assert ACCOUNT_ID.fullmatch("000000000000")


@pytest.mark.parametrize(
    "account",
    [
        *padded(ACCOUNT),
        "11112222333",
        "1111222233334",
        "1111-2222-3333",
        "11112222333a",
        ARABIC_INDIC_ACCOUNT,
        "",
    ],
)
def test_anything_else_is_no_account_id(account: str) -> None:
    assert ACCOUNT_ID.fullmatch(account) is None


# --- partitions and regions, inside every ARN pattern --------------------------------------------------


# The partitions botocore resolves endpoints in (botocore/data/partitions.json): aws, aws-cn and aws-us-gov
# as the IAM ARN reference lists them, and the isolated and sovereign ones the SDK knows besides.
@pytest.mark.parametrize("partition", partitions())
def test_every_partition_aws_knows_is_accepted(partition: str) -> None:
    assert MODEL_PACKAGE_ARN.fullmatch(package_arn(partition=partition))


def test_the_partitions_the_iam_arn_reference_lists_are_among_them() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html: "aws", "aws-cn", "aws-us-gov".
    assert {"aws", "aws-cn", "aws-us-gov"} <= set(partitions())


@pytest.mark.parametrize(
    "partition", ["", "aws-", "awscn", "aws-china", "AWS", "aws-iso-c", "aws-us-gov-", "aw"]
)
def test_a_partition_aws_does_not_have_is_refused(partition: str) -> None:
    assert MODEL_PACKAGE_ARN.fullmatch(package_arn(partition=partition)) is None
    assert KMS_KEY_ARN.fullmatch(KEY.replace("arn:aws:", f"arn:{partition}:")) is None


# Every region of every partition in botocore's partitions.json has the shape KMS documents for a Region,
# ^([a-z]+-){2,3}\d+$ (https://docs.aws.amazon.com/kms/latest/APIReference/API_MultiRegionKey.html).
@pytest.mark.parametrize("region", regions())
def test_every_region_aws_has_is_accepted(region: str) -> None:
    assert MODEL_PACKAGE_ARN.fullmatch(package_arn(region=region))
    assert KMS_KEY_ARN.fullmatch(KEY.replace("us-east-1", region))


@pytest.mark.parametrize(
    "region",
    ["", "us-east", "useast1", "us-east-1a", "US-EAST-1", "us_east_1", "1", "us-east-", "a-b-c-d-e-1"],
)
def test_a_region_of_another_shape_is_refused(region: str) -> None:
    assert MODEL_PACKAGE_ARN.fullmatch(package_arn(region=region)) is None
    assert KMS_KEY_ARN.fullmatch(KEY.replace("us-east-1", region)) is None


# --- model packages and their groups -------------------------------------------------------------------

# arn:${Partition}:sagemaker:${Region}:${Account}:model-package/${ModelPackageName} and
# ...:model-package-group/${ModelPackageGroupName} (Service Authorization Reference,
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html); a versioned
# package's name is <group>/<version> (VersionedArnOrName in botocore sagemaker service-2.json: up to 9 digits).
ACCEPTED_PACKAGES = [
    PACKAGE,
    "arn:aws-cn:sagemaker:cn-north-1:111122223333:model-package/churn/1",
    "arn:aws-us-gov:sagemaker:us-gov-west-1:111122223333:model-package/Churn-Model-2/123456789",
    f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{'a' * 63}/2",
]


@pytest.mark.parametrize("arn", ACCEPTED_PACKAGES)
def test_a_versioned_package_arn_is_accepted_and_within_what_sagemaker_accepts(arn: str) -> None:
    parts = MODEL_PACKAGE_ARN.fullmatch(arn)
    assert parts is not None
    # ModelPackageArn (botocore sagemaker service-2.json): the API's own pattern, region of 9-16 characters.
    assert re.fullmatch(_sagemaker_shape("ModelPackageArn")["pattern"], arn)
    _, _, _, region, account, resource = arn.split(":")
    assert (parts["region"], parts["account"], parts["group"]) == (region, account, resource.split("/")[1])


@pytest.mark.parametrize(
    "arn",
    [
        *padded(PACKAGE),
        package_arn(rest="sagestack-prod-models"),  # unversioned
        package_arn(rest="sagestack-prod-models/0"),  # versions start at 1 (ModelPackageVersion min 1)
        package_arn(rest="sagestack-prod-models/1234567890"),
        package_arn(rest="sagestack-prod-models/7/8"),
        package_arn(rest="sagestack_prod_models/7"),  # EntityName has no underscore
        package_arn(rest="-models/7"),
        package_arn(rest="models-/7"),
        package_arn(rest=f"{'a' * 64}/7"),
        package_arn(rest="modéls/7"),
        package_arn(account="44445555666"),
        package_arn(account="4444555566667"),
        package_arn(account=ARABIC_INDIC_ACCOUNT),
        PACKAGE.replace(":sagemaker:", ":sagemakr:"),
        PACKAGE.replace(":sagemaker:", ":kms:"),
        PACKAGE.replace("model-package/", "model-package-group/"),
        PACKAGE.replace("model-package/", "model/"),
        PACKAGE.replace("arn:", "arn-"),
        PACKAGE.replace("arn:", ""),
    ],
)
def test_anything_else_is_no_versioned_package_arn(arn: str) -> None:
    assert MODEL_PACKAGE_ARN.fullmatch(arn) is None


# EntityName, SageMaker's name shape (botocore sagemaker service-2.json): our verdict is SageMaker's.
@pytest.mark.parametrize(
    "name",
    [
        "a",
        "A1",
        "sagestack-prod-models",
        "a--b",
        "a" * 63,
        "a" * 64,
        "-a",
        "a-",
        "a_b",
        "a.b",
        "",
        "a b",
        "é",
    ],
)
def test_a_group_name_is_what_sagemaker_calls_an_entity_name(name: str) -> None:
    entity = _sagemaker_shape("EntityName")
    theirs = bool(re.fullmatch(entity["pattern"], name)) and entity["min"] <= len(name) <= entity["max"]
    assert bool(MODEL_PACKAGE_GROUP_NAME.fullmatch(name)) is theirs


@pytest.mark.parametrize("name", padded("sagestack-prod-models"))
def test_a_padded_group_name_is_refused(name: str) -> None:
    assert MODEL_PACKAGE_GROUP_NAME.fullmatch(name) is None


GROUP = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package-group/sagestack-staging-models"


def test_a_group_arn_is_accepted_and_within_what_sagemaker_accepts() -> None:
    for arn in (GROUP, GROUP.replace("arn:aws:", "arn:aws-cn:").replace("eu-west-1", "cn-northwest-1")):
        assert MODEL_PACKAGE_GROUP_ARN.fullmatch(arn)
        assert re.fullmatch(_sagemaker_shape("ModelPackageGroupArn")["pattern"], arn)


@pytest.mark.parametrize(
    "arn",
    [
        *padded(GROUP),
        GROUP + "/3",
        GROUP.replace("model-package-group/", "model-package/"),
        GROUP.replace("sagestack-staging-models", "sagestack_staging"),
        GROUP.replace(ACCOUNT, ACCOUNT[:-1]),
        GROUP.replace(":sagemaker:", ":iam:"),
        GROUP.replace("eu-west-1", "eu-west"),
    ],
)
def test_anything_else_is_no_group_arn(arn: str) -> None:
    assert MODEL_PACKAGE_GROUP_ARN.fullmatch(arn) is None


# --- KMS keys ------------------------------------------------------------------------------------------

# arn:${Partition}:kms:${Region}:${Account}:key/${KeyId} (Service Authorization Reference,
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html); the key
# IDs are the KMS API reference's examples, a single-Region key and a multi-Region one (mrk-).
ACCEPTED_KEYS = [
    KEY,
    "arn:aws:kms:us-east-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws-us-gov:kms:us-gov-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
]


@pytest.mark.parametrize("arn", ACCEPTED_KEYS)
def test_a_key_arn_is_accepted_with_its_region_and_account(arn: str) -> None:
    parts = KMS_KEY_ARN.fullmatch(arn)
    assert parts is not None
    assert (parts["region"], parts["account"]) == tuple(arn.split(":")[3:5])


@pytest.mark.parametrize(
    "arn",
    [
        *padded(KEY),
        KEY.replace(":key/", ":alias/"),  # an alias ARN names no key a bucket can be encrypted with
        KEY.replace(":key/", ":key:"),
        KEY.replace(":kms:", ":s3:"),
        KEY.replace(OTHER, OTHER + "7"),
        KEY.replace(OTHER, OTHER[1:]),
        KEY.replace(OTHER, ARABIC_INDIC_ACCOUNT),
        KEY.replace("us-east-1:", ""),
        KEY.split("/")[0] + "/",
        KEY + "/x",
    ],
)
def test_anything_else_is_no_key_arn(arn: str) -> None:
    assert KMS_KEY_ARN.fullmatch(arn) is None


# --- IAM policies (permissionsBoundaryArn) -------------------------------------------------------------


# arn:${Partition}:iam::${Account}:policy/${PolicyNameWithPath}; AWS managed policies have "aws" as account
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::123456789012:policy/UsersManageOwnCredentials",
        "arn:aws:iam::123456789012:policy/division_abc/subdivision_xyz/UsersManageOwnCredentials",
        "arn:aws-us-gov:iam::111122223333:policy/b",
        "arn:aws-cn:iam::111122223333:policy/team+ops=1,a.b@c-d",
    ],
)
def test_a_policy_arn_is_accepted(arn: str) -> None:
    assert POLICY_ARN.fullmatch(arn)


@pytest.mark.parametrize(
    "arn",
    [
        *padded("arn:aws:iam::aws:policy/PowerUserAccess"),
        "arn:aws:iam::123456789012:role/b",
        "arn:aws:iam:us-east-1:123456789012:policy/b",  # IAM is global: its ARNs have no region
        "arn:aws:iam::12345678901:policy/b",
        "arn:aws:iam::AWS:policy/b",
        "arn:aws:iam::123456789012:policy/",
        "arn:aws:iam::123456789012:policy/bé",
        "arn:awsx:iam::123456789012:policy/b",
    ],
)
def test_anything_else_is_no_policy_arn(arn: str) -> None:
    assert POLICY_ARN.fullmatch(arn) is None


# --- through the settings entry point (before any resource: load_settings runs it first) ---------------


@cache
def _dev_values() -> dict[str, str]:
    return dict(load_stack_config("dev").values)


def problems(allowed_account_ids: str | None = None, **overrides: str) -> list[str]:
    values = {**_dev_values(), "spotTraining": "false", **overrides}
    try:
        settings_from_values("dev", "us-east-1", values, allowed_account_ids=allowed_account_ids)
    except SettingsError as error:
        return error.problems
    return []


def test_the_valid_identifiers_pass_settings() -> None:
    assert problems(json.dumps([ACCOUNT]), modelConsumerAccounts=json.dumps([OTHER])) == []
    assert (
        problems(
            approvedModelPackageArn=PACKAGE, modelArtifactsBucket="prod-artifacts", modelArtifactsKeyArn=KEY
        )
        == []
    )


@pytest.mark.parametrize("account", [*padded(ACCOUNT), ARABIC_INDIC_ACCOUNT])
def test_a_padded_or_foreign_digit_allowed_account_is_refused_naming_the_key(account: str) -> None:
    raw = json.dumps([account])
    assert problems(raw) == [
        f"aws:allowedAccountIds = {raw!r}: expected a list of quoted 12-digit account IDs"
    ]


@pytest.mark.parametrize("account", [*padded(OTHER), ARABIC_INDIC_ACCOUNT])
def test_a_padded_or_foreign_digit_consumer_account_is_refused_naming_the_key(account: str) -> None:
    raw = json.dumps([account])
    assert problems(json.dumps([ACCOUNT]), modelConsumerAccounts=raw) == [
        f"sagestack:modelConsumerAccounts = {account!r}: expected 12-digit AWS account IDs (quoted)"
    ]


@pytest.mark.parametrize("pin", padded(PACKAGE))
def test_a_padded_pin_is_refused_once_and_nothing_is_derived_from_it(pin: str) -> None:
    # Matched by prefix, the pin's group (another stack's) also failed the bucket-and-key rule: two problems.
    assert problems(approvedModelPackageArn=pin) == [
        f"sagestack:approvedModelPackageArn = {pin!r}: expected a versioned model package ARN "
        '(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>) or ""'
    ]


@pytest.mark.parametrize("key", padded(KEY.replace("us-east-1", "eu-west-1")))
def test_a_padded_key_is_refused_once_naming_the_key(key: str) -> None:
    # Matched by prefix, the padded key's region (not the stack's) was a second problem.
    assert problems(
        approvedModelPackageArn=PACKAGE, modelArtifactsBucket="prod-artifacts", modelArtifactsKeyArn=key
    ) == [
        f"sagestack:modelArtifactsKeyArn = {key!r}: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key "
        'id>) or ""'
    ]


PIN_EXPECTED = (
    'a versioned model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>) or ""'
)
BOUNDARY_EXPECTED = 'an IAM policy ARN or ""'


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "approvedModelPackageArn",
            package_arn(partition="aws-foo", rest="sagestack-dev-models/1"),
            PIN_EXPECTED,
        ),
        ("approvedModelPackageArn", package_arn(rest="sagestack_dev_models/1"), PIN_EXPECTED),
        (
            "approvedModelPackageArn",
            package_arn(account=ARABIC_INDIC_ACCOUNT, rest="sagestack-dev-models/1"),
            PIN_EXPECTED,
        ),
        (
            "approvedModelPackageArn",
            package_arn(region="us-east-1a", rest="sagestack-dev-models/1"),
            PIN_EXPECTED,
        ),
        ("permissionsBoundaryArn", "arn:aws:iam::111122223333:policy/b\n", BOUNDARY_EXPECTED),
        ("permissionsBoundaryArn", "arn:awsfoo:iam::111122223333:policy/b", BOUNDARY_EXPECTED),
        ("permissionsBoundaryArn", f"arn:aws:iam::{ARABIC_INDIC_ACCOUNT}:policy/b", BOUNDARY_EXPECTED),
    ],
)
def test_a_malformed_arn_is_refused_naming_its_key_and_shape(key: str, value: str, expected: str) -> None:
    assert problems(**{key: value}) == [f"sagestack:{key} = {value!r}: expected {expected}"]


# --- no prefix matches left in the program -------------------------------------------------------------


def prefix_matches(source: str) -> list[int]:
    """The lines calling `.match` (a compiled pattern's or re's): it stops where the pattern does, so "$" or a
    missing anchor lets a tail through."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "match"
    ]


def test_a_prefix_match_is_found_and_a_whole_one_is_not() -> None:
    assert prefix_matches('P.match(x)\nre.match("a", y)\nP.fullmatch(x)\nre.fullmatch("a", y)\n') == [1, 2]


def test_no_module_of_the_program_matches_a_pattern_by_prefix() -> None:
    found = {
        path.name: lines
        for path in sorted((ROOT / "infra").glob("*.py"))
        if (lines := prefix_matches(path.read_text(encoding="utf-8")))
    }
    assert found == {}
