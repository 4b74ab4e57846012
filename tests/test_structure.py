"""The house stays easy to change: no module of the Pulumi program or the policy pack outgrows one concern.

Issue 15's Done-when: "no file over ~400 lines in infra/ or policy/". A file that reaches the limit is split
by concern (as iam.py, training.py, drift_scaleout.py, rollout.py, stack.py and alarm_specs.py were), not
allowed a higher limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
GUARDED = ("infra", "policy")


def modules() -> list[Path]:
    return sorted(path for folder in GUARDED for path in (ROOT / folder).rglob("*.py"))


def test_the_guarded_folders_have_modules() -> None:
    assert len(modules()) > 40  # a moved folder must not make the test below pass vacuously


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_outgrows_one_concern(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines; split it by concern"
