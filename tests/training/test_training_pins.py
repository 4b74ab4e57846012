"""The project trains with the scikit-learn release the serving image loads the model with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pinned(requirements: Path, package: str) -> str:
    found = re.findall(rf"^{re.escape(package)}==(\S+)", requirements.read_text(), flags=re.MULTILINE)
    assert len(found) == 1, f"{requirements.name}: expected one pin of {package}, found {found}"
    return found[0]


def test_training_pins_the_scikit_learn_release_of_the_serving_image() -> None:
    # aws/sagemaker-scikit-learn-container requirements.txt at eae7b6b ("bump scikit-learn to 1.9.0"): the 1.9-0
    # image has 1.9.0; a model pickled by another release loads with an InconsistentVersionWarning.
    image = pinned(ROOT / "serving" / "requirements-container.txt", "scikit-learn")
    assert image == "1.9.0"
    assert pinned(ROOT / "requirements.txt", "scikit-learn") == image


def test_a_second_pin_of_the_same_package_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "requirements.txt"
    twice.write_text("scikit-learn==1.9.0\nscikit-learn==1.9.1\n")
    try:
        pinned(twice, "scikit-learn")
    except AssertionError as error:
        assert "found ['1.9.0', '1.9.1']" in str(error)
    else:
        raise AssertionError("two pins were accepted")
