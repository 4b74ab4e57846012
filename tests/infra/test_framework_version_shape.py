"""frameworkVersion becomes the prebuilt image's tag (<version>-cpu-py3): ASCII digits only, matched whole."""

from __future__ import annotations

from functools import cache

import pytest

from infra.config_reader import ConfigReader
from infra.config_schema import load_stack_config
from infra.settings_rules import training_settings


@cache
def _dev_values() -> dict[str, str]:
    return dict(load_stack_config("dev").values)


def framework_problems(version: str) -> list[str]:
    r = ConfigReader({**_dev_values(), "frameworkVersion": version})
    training_settings(r)
    return r.problems


# Versions of the scikit-learn image as the SageMaker SDK lists them (sagemaker/core/image_uri_config/sklearn.json).
@pytest.mark.parametrize("version", ["0.23-1", "1.0-1", "1.2-1", "1.9-0"])
def test_an_image_version_is_accepted(version: str) -> None:
    assert framework_problems(version) == []


@pytest.mark.parametrize(
    "version", ["1.9-0\n", " 1.9-0", "1.9-0 ", "1.9", "1.9-", "1-9-0", "v1.9-0", "١.٩-٠", "1.9-0-cpu-py3", ""]
)
def test_anything_else_is_refused_naming_the_key(version: str) -> None:
    assert framework_problems(version) == [
        f"sagestack:frameworkVersion = {version!r}: expected an image version such as 1.9-0"
    ]
