"""Apply to the serving virtualenv the one source patch the scikit-learn image applies to its serving stack.

    .venv-serving/bin/python serving/patch_container.py

The image's final Dockerfile (aws/sagemaker-scikit-learn-container, docker/1.4-2-py312/final/Dockerfile.cpu,
"Fix Python 3.12 compatibility for sagemaker-containers") rewrites ``collections.Mapping`` to
``collections.abc.Mapping`` in sagemaker_containers/_mapping.py; the alias is gone since Python 3.10.
Its other patch replaces sagemaker_inference/decoder.py, which only the multi-model server imports and
which this environment does not install. Idempotent; exits non-zero when the file is not as expected.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sagemaker_containers

OLD = "collections.Mapping"
NEW = "collections.abc.Mapping"


def patch(mapping_file: Path) -> str:
    text = mapping_file.read_text(encoding="utf-8")
    if OLD not in text.replace(NEW, ""):
        if NEW in text:
            return "already patched"
        raise SystemExit(f"{mapping_file}: no {OLD!r} to patch; is this sagemaker-containers 2.8.6.post2?")
    # A new file, not a rewrite in place: installers may hard-link site-packages files to their cache.
    patched = mapping_file.with_name(mapping_file.name + ".patched")
    patched.write_text(text.replace(NEW, OLD).replace(OLD, NEW), encoding="utf-8")
    os.replace(patched, mapping_file)
    return "patched"


if __name__ == "__main__":
    target = Path(sagemaker_containers.__file__).parent / "_mapping.py"
    print(f"{target}: {patch(target)}")
    sys.exit(0)
