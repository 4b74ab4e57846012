"""The key-admin exemption of the IAM wildcard rule (policy/guardrails/iam.py) takes only a whole account root.

`^...$` with `.match` let a principal with a trailing newline, or of another script's digits, stand for the
account root and so exempted its `kms:*` on "*". No program or pack run.
"""

from __future__ import annotations

from typing import Any

import pytest

from policy.guardrails import iam
from policy.guardrails import resource_types as t

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def key_admin(principal: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Principal": {"AWS": principal}}
    return {"Version": "2012-10-17", "Statement": [statement]}


# The default key policy's root statement: "AWS": "arn:aws:iam::111122223333:root", or the account ID alone
# (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html; IAM principal reference,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts).
@pytest.mark.parametrize("principal", [ROOT, ACCOUNT, [ROOT, ACCOUNT], "arn:aws-cn:iam::111122223333:root"])
def test_the_whole_account_root_is_exempt(principal: Any) -> None:
    assert iam.wildcard_grants(t.KMS_KEY, key_admin(principal)) == []


@pytest.mark.parametrize(
    "principal",
    [
        ROOT + "\n",
        ACCOUNT + "\n",
        " " + ROOT,
        ROOT + " ",
        [ROOT, ACCOUNT + "\n"],
        "١١١١٢٢٢٢٣٣٣٣",  # twelve digits to `\d`, none to IAM
        f"arn:aws:iam::{'١١١١٢٢٢٢٣٣٣٣'}:root",
        ACCOUNT[:-1],
        ACCOUNT + "4",
    ],
)
def test_anything_else_is_a_whole_service_grant(principal: Any) -> None:
    assert iam.wildcard_grants(t.KMS_KEY, key_admin(principal)) == [
        'Statement[0]: kms:* on "Resource": "*" grants a whole service'
    ]
