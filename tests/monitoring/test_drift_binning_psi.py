"""monitoring/drift.py on tiny hand-made baselines: PSI by hand, bin edges, the accumulator's paths.

Every expected PSI below is the formula sum((a - e) * ln(a / e)) written out on small counts, never a value
the code under test computed.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from monitoring.drift import (
    BASELINE_FORMAT_VERSION,
    FREQUENCY_SUM_TOLERANCE,
    PSI_FLOOR,
    BaselineError,
    DriftAccumulator,
    InvalidValue,
    RecordBatch,
    load_baseline,
    parse_baseline,
    parse_schema_feature_names,
    psi,
)


def test_the_documented_constants() -> None:
    assert BASELINE_FORMAT_VERSION == 1
    assert PSI_FLOOR == 1e-4
    assert FREQUENCY_SUM_TOLERANCE == 1e-3


def test_psi_by_hand_on_two_bins() -> None:
    # live shares 1/4, 3/4 against 1/2, 1/2: (-1/4)ln(1/2) + (1/4)ln(3/2) = (1/4)ln 3
    assert psi([1, 3], [0.5, 0.5]) == pytest.approx(0.25 * math.log(3), rel=1e-12)


def test_psi_by_hand_on_three_bins() -> None:
    # live 2/10, 3/10, 5/10 against 0.5, 0.3, 0.2: (-0.3)ln(0.4) + 0 + (0.3)ln(2.5) = 0.3 ln(6.25)
    assert psi([2, 3, 5], [0.5, 0.3, 0.2]) == pytest.approx(0.3 * math.log(6.25), rel=1e-12)


def test_psi_floors_a_zero_baseline_share() -> None:
    # live 1/2, 1/2 against base 0 -> 1e-4 and 1: (0.5 - 1e-4)ln(0.5/1e-4) + (-0.5)ln(0.5)
    expected = (0.5 - 1e-4) * math.log(5000.0) + 0.5 * math.log(2.0)
    assert psi([1, 1], [0.0, 1.0]) == pytest.approx(expected, rel=1e-12)


def test_psi_floors_an_empty_live_bin() -> None:
    # live 0 -> 1e-4 and 1 against 0.25, 0.75: (1e-4 - 0.25)ln(1e-4/0.25) + 0.25 ln(1/0.75)
    expected = (1e-4 - 0.25) * math.log(1e-4 / 0.25) + 0.25 * math.log(4.0 / 3.0)
    assert psi([0, 7], [0.25, 0.75]) == pytest.approx(expected, rel=1e-12)


def test_psi_of_no_rows_is_none_and_mismatched_bins_are_named() -> None:
    assert psi([0, 0, 0], [0.2, 0.3, 0.5]) is None
    with pytest.raises(ValueError, match=r"^live has 2 bins but the baseline has 3$"):
        psi([1, 1], [0.2, 0.3, 0.5])
