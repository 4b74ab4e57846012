"""The mutation tables `make mutate` reads (tests/mutation/*.toml) name real modules and real tests.

A module whose tests were renamed would make mutmut fail after minutes of mutant generation; a module listed in
two tables would be scored twice with different equivalents. Both are caught here, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.mutate import load_plans

ROOT = Path(__file__).resolve().parents[1]


def test_every_mapped_module_and_test_file_exists() -> None:
    plans = load_plans()
    assert len(plans) >= 10  # an emptied folder must not pass vacuously
    for path, plan in plans.items():
        assert (ROOT / path).is_file(), path
        for test in (*plan.tests, *plan.deselect):
            assert (ROOT / test.split("::")[0]).is_file(), f"{path}: {test}"


def test_a_module_in_two_tables_is_refused(tmp_path: Path) -> None:
    for area in ("one", "two"):
        (tmp_path / f"{area}.toml").write_text('[module."infra/settings.py"]\ntests = ["tests/x.py"]\n')
    with pytest.raises(SystemExit, match=r"two\.toml: module infra/settings\.py is already in another table"):
        load_plans(tmp_path)


def test_an_equivalent_without_its_reason_is_refused(tmp_path: Path) -> None:
    (tmp_path / "area.toml").write_text(
        '[module."infra/settings.py"]\ntests = ["tests/x.py"]\n'
        '[[module."infra/settings.py".equivalent]]\nfunction = "f"\nmutated = "x = 1"\n'
    )
    with pytest.raises(SystemExit, match=r"area\.toml: an equivalent of infra/settings\.py lacks reason"):
        load_plans(tmp_path)
