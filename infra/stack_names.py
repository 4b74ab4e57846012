"""Stack and name-prefix rules: the alphabet physical names accept and the bucket-name length budget."""

from __future__ import annotations

import re
from functools import cache

NAME = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")
S3_BUCKET_NAME_MAX = 63  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
LONGEST_PURPOSE = "artifacts"  # the longest of infra.storage.BUCKET_PURPOSES


@cache
def longest_region() -> str:
    """The longest region name botocore knows in any partition (us-isof-south-1 today, 15 characters)."""
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    regions: list[str] = [r for p in endpoints["partitions"] for r in p["regions"]]
    return max(regions, key=lambda r: (len(r), r))


def max_base_name() -> int:
    """Characters left for '<namePrefix>-<stack>' in <base>-<purpose>-<12-digit account>-<region>."""
    return S3_BUCKET_NAME_MAX - len(f"-{LONGEST_PURPOSE}-123456789012-{longest_region()}")


_NAME_BUDGET_REASON = (
    "bucket names are <prefix>-<stack>-artifacts-<12-digit account>-<region>, S3 allows 63 characters, "
    "and the longest region name is {region} with {length}"
)


def name_budget_reason() -> str:
    return _NAME_BUDGET_REASON.format(region=longest_region(), length=len(longest_region()))


def stack_name_problems(stack: str) -> list[str]:
    """The fork rules for a stack name: the alphabet physical names accept, and the length budget."""
    problems = []
    if not NAME.fullmatch(stack):  # fullmatch: "$" alone would let a trailing newline through
        problems.append(
            f"stack name {stack!r}: expected lowercase letters, digits and hyphens, starting with a letter "
            "and not ending with a hyphen (it is part of every bucket, role and endpoint name)"
        )
    budget = max_base_name()
    if len(stack) + 2 > budget:  # even a one-letter namePrefix would not fit
        problems.append(
            f"stack name {stack!r} has {len(stack)} characters: expected at most {budget - 2}, because "
            f"'<namePrefix>-<stack>' may have at most {budget} and namePrefix needs at least one "
            f"({name_budget_reason()}); "
            "choose a shorter stack name, no namePrefix can fix this"
        )
    return problems
