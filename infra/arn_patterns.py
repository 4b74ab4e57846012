"""The shapes of the AWS identifiers the stack accepts from config and from `python -m infra.promote`, once.

Apply them with `fullmatch` only: they carry no anchors, because `$` also matches just before a trailing
newline, so `^...$` with `.match` let "123456789012\\n" through into policies and ARNs. Character classes
are spelt out in ASCII: `\\d` and `\\w` also match other scripts' digits and letters, which AWS refuses.
The tests in tests/infra/test_arn_patterns.py cite where each part comes from.
"""

from __future__ import annotations

import re

# The partitions botocore's partitions.json knows (the IAM ARN reference documents aws, aws-cn, aws-us-gov).
PARTITION = r"aws(?:-cn|-us-gov|-iso(?:-[bef])?|-eusc)?"
# Two or three lowercase words and a number, as KMS's MultiRegionKey Region pattern says.
REGION = r"(?:[a-z]+-){2,3}[0-9]+"
ACCOUNT = r"[0-9]{12}"
# SageMaker's EntityName: 1-63 letters, digits and hyphens, starting and ending with a letter or digit.
SAGEMAKER_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

ACCOUNT_ID = re.compile(ACCOUNT)
MODEL_PACKAGE_GROUP_NAME = re.compile(SAGEMAKER_NAME)
MODEL_PACKAGE_GROUP_ARN = re.compile(
    rf"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{SAGEMAKER_NAME}"
)
# A versioned package: <group>/<version>, the version a whole number from 1 (at most 9 digits).
MODEL_PACKAGE_ARN = re.compile(
    rf"arn:{PARTITION}:sagemaker:(?P<region>{REGION}):(?P<account>{ACCOUNT}):"
    rf"model-package/(?P<group>{SAGEMAKER_NAME})/[1-9][0-9]{{0,8}}"
)
KMS_KEY_ARN = re.compile(
    rf"arn:{PARTITION}:kms:(?P<region>{REGION}):(?P<account>{ACCOUNT}):key/(?:mrk-)?[0-9A-Za-z-]+"
)
# A customer managed policy (the account) or an AWS managed one ("aws"), with an optional path.
POLICY_ARN = re.compile(rf"arn:{PARTITION}:iam::(?:{ACCOUNT}|aws):policy/[A-Za-z0-9_+=,.@/-]+")
