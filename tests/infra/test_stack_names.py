"""Stack-name rules (infra/stack_names.py): the alphabet and the bucket-name length budget, with literal
expectations from S3's 63-character limit and the longest region the pinned botocore knows."""

from __future__ import annotations

import pytest

from infra.stack_names import longest_region, max_base_name, name_budget_reason, stack_name_problems

# The pinned botocore's endpoints data (requirements.txt); a longer region after an upgrade fails here first.
LONGEST_REGION = "us-isof-south-1"
# S3 bucket names are 3 to 63 characters (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 63 - len("-artifacts-123456789012-us-isof-south-1") = 63 - 39 = 24 for '<namePrefix>-<stack>'.
BUDGET = 24
REASON = (
    "bucket names are <prefix>-<stack>-artifacts-<12-digit account>-<region>, S3 allows 63 characters, "
    "and the longest region name is us-isof-south-1 with 15"
)


def test_the_budget_is_what_63_characters_leave_beside_the_longest_region() -> None:
    assert longest_region() == LONGEST_REGION
    assert max_base_name() == BUDGET
    assert name_budget_reason() == REASON


@pytest.mark.parametrize("stack", ["dev", "a1", "eu-prod-2", "a" * (BUDGET - 2)])
def test_a_lowercase_stack_name_within_the_budget_has_no_problem(stack: str) -> None:
    assert stack_name_problems(stack) == []


@pytest.mark.parametrize("stack", ["Dev", "1dev", "dev-", "d", "dev_1", "-dev", "dev\n"])
def test_a_stack_name_outside_the_alphabet_is_refused_with_the_rule(stack: str) -> None:
    assert stack_name_problems(stack) == [
        f"stack name {stack!r}: expected lowercase letters, digits and hyphens, starting with a letter and not "
        "ending with a hyphen (it is part of every bucket, role and endpoint name)"
    ]


@pytest.mark.parametrize("length", [BUDGET - 1, BUDGET, BUDGET + 1, BUDGET + 3])
def test_a_stack_name_leaving_no_room_for_a_one_letter_prefix_is_refused(length: int) -> None:
    stack = "a" * length
    assert stack_name_problems(stack) == [
        f"stack name {stack!r} has {length} characters: expected at most 22, because '<namePrefix>-<stack>' "
        f"may have at most 24 and namePrefix needs at least one ({REASON}); choose a shorter stack name, no "
        "namePrefix can fix this"
    ]


def test_a_long_name_outside_the_alphabet_has_both_problems() -> None:
    assert len(stack_name_problems("A" * 30)) == 2
