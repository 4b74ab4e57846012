"""compiled_estimator's kernels on small estimators fitted here (no pipeline, no server): the request
budget, the load check's tolerance and refusals, the probe rows, and the one-tree and multi-output edges.
Mapped by tests/mutation/serving.toml to serving/compiled_estimator.py; each test takes milliseconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import compiled_estimator

FLOAT32 = np.dtype(np.float32)


def training_rows(width: int = 4, count: int = 200, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, width)).astype(np.float32)
    labels = (features[:, 0] + 0.5 * rng.normal(size=count) > 0).astype(int)
    return features, labels


def fitted(classifier: Any, width: int = 4) -> Any:
    return classifier.fit(*training_rows(width))


def forest_of(trees: int, depth: int) -> compiled_estimator.Forest:
    """A Forest with `trees` roots and the given depth; only its shape matters to the budget."""
    empty = np.zeros(trees, dtype=np.intp)
    return compiled_estimator.Forest(
        feature=empty,
        threshold=np.zeros(trees),
        children=np.zeros(2 * trees, dtype=np.intp),
        value=np.zeros((trees, 2)),
        roots=np.arange(trees),
        depth=depth,
    )


class Offset:
    """A kernel answering the estimator's probabilities plus `offset` (or a wrong shape)."""

    def __init__(self, estimator: Any, offset: float, columns: int = 2) -> None:
        self.estimator, self.offset, self.columns = estimator, offset, columns
        self.max_rows = 1

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        answer = np.asarray(self.estimator.predict_proba(features), dtype=np.float64) + self.offset
        return answer[:, : self.columns]


# --- the request budget: rows times node visits (or coefficients) per row within VISIT_BUDGET ----------


@pytest.mark.parametrize(
    ("trees", "depth", "rows"),
    [
        (40, 3, 333),  # 40_000 // 120: the budget counts every tree's levels (docstring: visits per row)
        (7, 0, 5714),  # a single-leaf tree still costs one visit per row: 40_000 // 7
        (1, 0, 40_000),  # one visit per row: the whole budget
        (500, 100, 1),  # beyond the budget a kernel still answers one row
    ],
)
def test_tree_kernels_answer_rows_within_the_visit_budget(trees: int, depth: int, rows: int) -> None:
    forest = forest_of(trees, depth)
    assert compiled_estimator.ForestKernel(forest).max_rows == rows
    assert compiled_estimator.GradientBoostingKernel(forest, 0.1, 0.0).max_rows == rows


@pytest.mark.parametrize(("coefficients", "rows"), [(12, 3333), (1, 40_000), (0, 40_000), (50_000, 1)])
def test_the_logistic_kernel_answers_rows_within_the_coefficient_budget(coefficients: int, rows: int) -> None:
    kernel = compiled_estimator.LogisticKernel(np.zeros((coefficients, 1)), np.zeros(1))
    assert kernel.max_rows == rows


# --- the load check: within TOLERANCE (the 1e-12), else refused naming by how much ------------


def test_an_exact_kernel_loads_even_with_no_tolerance(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernels repeat scikit-learn's operations in order, so the difference is 0 and 0 <= 0 holds.
    monkeypatch.setattr(compiled_estimator, "TOLERANCE", 0.0)
    estimator = fitted(GradientBoostingClassifier(n_estimators=5, random_state=0))
    kernel = compiled_estimator.load_kernel(estimator, 4, FLOAT32)
    assert isinstance(kernel, compiled_estimator.GradientBoostingKernel)


@pytest.mark.parametrize(("offset", "loads"), [(0.5e-12, True), (2e-12, False), (1e-3, False)])
def test_the_load_check_allows_1e_12_and_no_more(
    monkeypatch: pytest.MonkeyPatch, offset: float, loads: bool
) -> None:
    estimator = fitted(LogisticRegression())
    monkeypatch.setattr(compiled_estimator, "compile_estimator", lambda e: Offset(e, offset))
    if loads:
        assert isinstance(compiled_estimator.load_kernel(estimator, 4, FLOAT32), Offset)
        return
    with pytest.raises(compiled_estimator.KernelError, match=r"differs from the estimator by \d"):
        compiled_estimator.load_kernel(estimator, 4, FLOAT32)


def test_a_kernel_answering_nan_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    estimator = fitted(LogisticRegression())
    monkeypatch.setattr(compiled_estimator, "compile_estimator", lambda e: Offset(e, float("nan")))
    with pytest.raises(compiled_estimator.KernelError, match="differs from the estimator by nan"):
        compiled_estimator.load_kernel(estimator, 4, FLOAT32)


def test_a_kernel_answering_another_shape_is_refused_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    estimator = fitted(LogisticRegression())
    monkeypatch.setattr(compiled_estimator, "compile_estimator", lambda e: Offset(e, 0.0, columns=1))
    with pytest.raises(compiled_estimator.KernelError, match=r"shape \(256, 1\), the estimator \(256, 2\)"):
        compiled_estimator.load_kernel(estimator, 4, FLOAT32)


# --- what compile_estimator refuses, with the reason in the message ---------------------------------------


def test_a_multi_output_forest_is_refused_naming_its_outputs() -> None:
    features, labels = training_rows()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        features, np.column_stack((labels, labels))
    )
    with pytest.raises(compiled_estimator.KernelError, match="forest with 2 outputs"):
        compiled_estimator.compile_estimator(forest)


def test_a_forest_of_one_tree_answers_as_the_estimator() -> None:
    estimator = fitted(RandomForestClassifier(n_estimators=1, max_depth=3, random_state=0))
    kernel = compiled_estimator.load_kernel(estimator, 4, FLOAT32)
    features = training_rows(seed=9)[0]
    np.testing.assert_array_equal(kernel.predict_proba(features), estimator.predict_proba(features))


# --- probe rows: every threshold as stored in the dtype, its neighbours either way, and beyond -------------


def test_probe_rows_sit_on_beside_and_beyond_every_threshold() -> None:
    # One stump on feature 2: its one threshold t gives five probe values per row of that column.
    estimator = fitted(RandomForestClassifier(n_estimators=1, max_depth=1, random_state=0), width=3)
    tree = estimator.estimators_[0].tree_
    assert tree.node_count == 3
    column, at = int(tree.feature[0]), np.float32(tree.threshold[0])
    rows = compiled_estimator.probe_rows(compiled_estimator.compile_estimator(estimator), 3, FLOAT32)
    assert rows.shape == (256, 3) and rows.dtype == np.float32
    expected = {
        at,
        np.nextafter(at, np.float32(np.inf)),
        np.nextafter(at, np.float32(-np.inf)),
        at - np.float32(1),
        at + np.float32(1),
    }
    assert set(rows[:, column].tolist()) == {float(v) for v in expected}
    unsplit = [c for c in range(3) if c != column]
    assert not rows[:, unsplit].any()  # a feature no tree splits on is probed at 0


def test_probe_rows_hold_every_probe_value_even_beyond_256_rows() -> None:
    # 40 unlimited trees on 300 rows split one feature hundreds of times: 4 values per threshold + 2 beyond.
    features, labels = training_rows(width=1, count=300)
    estimator = RandomForestClassifier(n_estimators=40, random_state=0).fit(features, labels)
    thresholds = np.concatenate(
        [m.tree_.threshold[m.tree_.children_left != -1] for m in estimator.estimators_]
    ).astype(np.float32)
    values = {float(v) for v in thresholds}
    values |= {float(np.nextafter(v, np.float32(np.inf))) for v in thresholds}
    values |= {float(np.nextafter(v, np.float32(-np.inf))) for v in thresholds}
    values |= {float(thresholds.min() - 1), float(thresholds.max() + 1)}
    assert len(values) > 256
    rows = compiled_estimator.probe_rows(compiled_estimator.compile_estimator(estimator), 1, FLOAT32)
    assert set(rows[:, 0].tolist()) == values


def test_probe_rows_come_only_from_the_trees_own_splits_when_trees_differ_in_size() -> None:
    # Trees of different sizes are padded to one width: the padding is no split, so it adds no probe value.
    features, labels = training_rows(width=3, count=300)
    estimator = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0).fit(features + 10, labels)
    assert len({member.tree_.node_count for member in estimator.estimators_}) > 1
    kernel = compiled_estimator.compile_estimator(estimator)
    rows = compiled_estimator.probe_rows(kernel, 3, FLOAT32)
    for column in range(3):
        thresholds = np.concatenate(
            [
                m.tree_.threshold[(m.tree_.children_left != -1) & (m.tree_.feature == column)]
                for m in estimator.estimators_
            ]
        ).astype(np.float32)
        near = np.isclose(rows[:, column][:, None], thresholds[None, :], atol=1.01).any(axis=1)
        assert near.all() if len(thresholds) else not rows[:, column].any(), column


def test_probe_rows_are_deterministic_for_a_seed_and_differ_across_seeds() -> None:
    kernel = compiled_estimator.compile_estimator(
        fitted(RandomForestClassifier(n_estimators=3, random_state=0))
    )
    first, again = (compiled_estimator.probe_rows(kernel, 4, FLOAT32) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, compiled_estimator.probe_rows(kernel, 4, FLOAT32, seed=1))


def test_linear_probe_rows_are_spread_finite_values_in_the_dtype() -> None:
    kernel = compiled_estimator.compile_estimator(fitted(LogisticRegression()))
    rows = compiled_estimator.probe_rows(kernel, 4, FLOAT32)
    assert rows.shape == (256, 4) and rows.dtype == np.float32 and rows.flags.c_contiguous
    assert np.isfinite(rows).all() and len(np.unique(rows)) == rows.size


def test_packing_refuses_values_not_one_per_tree() -> None:
    estimator = fitted(RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0))
    trees = [member.tree_ for member in estimator.estimators_]
    with pytest.raises(ValueError, match="zip"):
        compiled_estimator.pack_trees(trees, [trees[0].value[:, 0, :]])


@pytest.mark.parametrize("kind", ["forest", "gradient_boosting"])
def test_a_one_feature_model_answers_one_row(kind: str) -> None:
    # Rows that reached a leaf keep stepping in place: they must read a column that exists (feature 0),
    # the narrowest case being one feature and one row.
    classifier = (
        RandomForestClassifier(n_estimators=3, random_state=0)  # unlimited: leaves at many depths
        if kind == "forest"
        else GradientBoostingClassifier(n_estimators=3, max_depth=4, random_state=0)
    )
    estimator = fitted(classifier, width=1)
    for member in np.ravel(estimator.estimators_):
        leaves = member.tree_.children_left == -1
        assert member.tree_.max_depth > 1 and leaves.any()
    kernel = compiled_estimator.load_kernel(estimator, 1, FLOAT32)
    row = np.array([[0.25]], dtype=np.float32)
    np.testing.assert_array_equal(kernel.predict_proba(row), estimator.predict_proba(row))


def test_an_input_dependent_init_is_refused_naming_its_type() -> None:
    estimator = fitted(GradientBoostingClassifier(n_estimators=3, init=LogisticRegression()))
    with pytest.raises(
        compiled_estimator.KernelError, match="gradient boosting init LogisticRegression depends on the input"
    ):
        compiled_estimator.compile_estimator(estimator)
