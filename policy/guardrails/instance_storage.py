"""Which SageMaker instance types have local NVMe instance storage: one definition for the pack and infra.

SageMaker encrypts that storage in hardware and rejects a KmsKeyId / VolumeKmsKeyId for such types
(CreateEndpointConfig KmsKeyId and ResourceConfig VolumeKmsKeyId in the SageMaker API reference).
Standard library only: infra/serving.py imports it, and so does the pack, which runs on its own.
"""

from __future__ import annotations

import re

# Families with a "d" in their suffix (m5d, c6gd, g4dn, p3dn, p4d, p4de, ...) carry NVMe disks, and so do these.
_FAMILIES_WITHOUT_D = "g5|g6|g6e|p5|p5e|p5en|trn1|trn1n|inf2"
_LOCAL_STORAGE_TYPE = re.compile(rf"^ml\.([a-z]+\d+[a-z]*d[a-z]*|{_FAMILIES_WITHOUT_D})\.")


def has_instance_storage(instance_type: str) -> bool:
    """True for an `ml.<family>.<size>` type whose instances have local NVMe storage."""
    return bool(_LOCAL_STORAGE_TYPE.match(instance_type))
