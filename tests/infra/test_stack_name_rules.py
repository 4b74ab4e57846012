"""infra/stack_names.py on its own: the alphabet a stack name may use and the length budget that bucket
names leave it. Pure functions, no program run; mapped by tests/mutation.toml to infra/stack_names.py."""

from __future__ import annotations

import pytest

from infra.stack_names import longest_region, max_base_name, name_budget_reason, stack_name_problems

# S3 bucket names: 3-63 characters of lowercase letters, digits, hyphens and dots, beginning and ending
# with a letter or digit (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
ALPHABET = (
    "expected lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"
)


@pytest.mark.parametrize("stack", ["dev", "ab", "a1", "a-b", "team-analytics-2", "x" * 22])
def test_names_of_the_alphabet_within_the_budget_have_no_problems(stack: str) -> None:
    assert stack_name_problems(stack) == []


@pytest.mark.parametrize("stack", ["Dev", "1dev", "-dev", "dev-", "dev_1", "dev.1", "dé", "", "a"])
def test_names_outside_the_alphabet_are_named_with_what_is_expected(stack: str) -> None:
    problems = stack_name_problems(stack)
    assert len(problems) == 1
    assert problems[0].startswith(f"stack name {stack!r}: {ALPHABET} (it is part of every bucket")


def test_the_longest_region_is_us_isof_south_1() -> None:
    # botocore's endpoints.json, partition aws-iso-f: the longest region name, 15 characters.
    assert longest_region() == "us-isof-south-1"


def test_the_base_name_budget_is_what_63_characters_leave() -> None:
    # 63 - len("-artifacts-123456789012-us-isof-south-1") = 63 - 39 = 24
    assert max_base_name() == 24


def test_one_character_over_the_budget_is_refused_naming_the_limit_and_why() -> None:
    # '<prefix>-<stack>' has at most 24 characters and a prefix at least one, so a stack at most 22.
    stack = "x" * 23
    assert stack_name_problems(stack) == [
        f"stack name {stack!r} has 23 characters: expected at most 22, because '<namePrefix>-<stack>' may "
        "have at most 24 and namePrefix needs at least one (bucket names are "
        "<prefix>-<stack>-artifacts-<12-digit account>-<region>, S3 allows 63 characters, and the longest "
        "region name is us-isof-south-1 with 15); choose a shorter stack name, no namePrefix can fix this"
    ]


def test_a_bad_name_over_the_budget_gets_both_problems() -> None:
    problems = stack_name_problems("X" * 30)
    assert len(problems) == 2 and ALPHABET in problems[0] and "has 30 characters" in problems[1]


def test_the_budget_reason_names_the_region_and_its_length() -> None:
    assert name_budget_reason().endswith("the longest region name is us-isof-south-1 with 15")
