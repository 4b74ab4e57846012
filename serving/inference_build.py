"""A PEP 517 build backend that needs only the standard library: it wheels the inference modules.

At startup the serving container runs ``pip install . -r requirements.txt`` in its code directory
(sagemaker-containers 2.8.6.post2, ``_modules.install``). Without a pyproject.toml, pip builds that
directory in an isolated environment that first installs ``setuptools>=40.8.0`` from an index, which a
network-isolated endpoint cannot reach, so the container never starts. pyproject.toml names this module
as an in-tree backend with no build requirements, so the build needs nothing from any index.
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

MODULES = ("inference.py", "compiled_estimator.py")
_HERE = Path(__file__).resolve().parent
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def _project() -> tuple[str, str]:
    with (_HERE / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return str(project["name"]), str(project["version"])


def _dist_info_name() -> str:
    name, version = _project()
    return f"{name.replace('-', '_')}-{version}.dist-info"


def _metadata_files() -> dict[str, bytes]:
    name, version = _project()
    return {
        "METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        "WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: inference_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings: object = None) -> list[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: object = None) -> str:
    target = Path(metadata_directory) / _dist_info_name()
    target.mkdir(parents=True, exist_ok=True)
    for file_name, data in _metadata_files().items():
        (target / file_name).write_bytes(data)
    return target.name


def build_wheel(
    wheel_directory: str, config_settings: object = None, metadata_directory: str | None = None
) -> str:
    name, version = _project()
    dist_info = _dist_info_name()
    members = {module: (_HERE / module).read_bytes() for module in MODULES}
    members.update({f"{dist_info}/{n}": data for n, data in _metadata_files().items()})
    record = [_record_line(path, data) for path, data in members.items()] + [f"{dist_info}/RECORD,,"]
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel_name = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in members.items():
            wheel.writestr(zipfile.ZipInfo(path, date_time=_ZIP_DATE), data)
    return wheel_name
