"""Where the stack's prebuilt images exist: the registry account per region, as the provider knows it.

The program asks `aws.sagemaker.get_prebuilt_ecr_image` for its images. That data source answers from
per-repository tables of region -> registry account compiled into the provider
(terraform-provider-aws internal/service/sagemaker/prebuilt_ecr_image_data_source.go) and fails with
"no registry ID available for region" anywhere else, after resources were already registered.
These are the same tables, so settings can refuse such a region before any resource, and the offline
harness can answer the data source exactly as the provider would.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SKLEARN_REPOSITORY = "sagemaker-scikit-learn"

# prebuiltECRImageIDByRegion_XGBoost: the provider's table for sagemaker-xgboost, sagemaker-scikit-learn
# and sagemaker-sparkml-serving.
_SKLEARN_ACCOUNTS = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-iso-east-1": "833128469047",
    "us-isob-east-1": "281123927165",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

REGISTRY_ACCOUNTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        SKLEARN_REPOSITORY: MappingProxyType(_SKLEARN_ACCOUNTS),
    }
)


def registry_account(repository: str, region: str) -> str | None:
    """The account whose ECR registry holds `repository` in `region`, or None where the provider has none."""
    return REGISTRY_ACCOUNTS[repository].get(region)
