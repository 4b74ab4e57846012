"""The fitted final estimator as array operations, for the small requests an endpoint mostly answers.

A one-row ``predict_proba`` of scikit-learn's estimators costs far more than its arithmetic: input
validation is most of a gradient-boosting call (~0.4 of ~0.5 ms on 200 trees), and a random forest adds
one joblib dispatch per tree (~24 ms for 200 trees, ``n_jobs=1``). For requests small enough that the
kernel's own work stays within ``VISIT_BUDGET`` (rows times the tree nodes or coefficients one row visits:
``max_rows``) the request path evaluates the fitted model's public arrays instead: the nodes of every tree
(``tree_``: feature, threshold, children, value) walked for all trees at once, or a linear model's
``coef_`` and ``intercept_``. Each kernel finishes the way scikit-learn 1.9 does, with the same link
function and the additions in the same order, so its probabilities are the estimator's, bit for bit on
the models we train (the load check below allows 1e-12). Larger batches amortise scikit-learn's per-call
cost and go through the estimator's own ``predict_proba``: a kernel's work grows with every row (numpy
walks each tree level for all rows at once, ~10 ns per node visit here), scikit-learn's mostly does not.

Kernels take only finite input in the estimator's own dtype (the request path checks both), so a tree's
missing-value routing never applies. ``compile_estimator`` refuses, naming why, any estimator it does not
reproduce (a subclass, more than two classes, a gradient-boosting loss or init other than the defaults);
``load_kernel`` also compares the kernel with the estimator's ``predict_proba`` on probe rows that sit on
and beside every split threshold, and keeps the estimator if they differ anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.special import expit, logit

# Node visits (or coefficients) per request up to which a kernel beats predict_proba: ~0.45 ms of numpy,
# about scikit-learn's own per-call cost on a gradient-boosting model (benchmarks/serving.py).
VISIT_BUDGET = 40_000
TOLERANCE = 1e-12
_LEAF = -1  # scikit-learn's TREE_LEAF: the children_left of a leaf
_PROBES = 256


class KernelError(Exception):
    """The estimator is one this module does not reproduce; the message says why."""


class Kernel(Protocol):
    @property
    def max_rows(self) -> int: ...

    def predict_proba(self, features: np.ndarray) -> np.ndarray: ...


def _rows_within_budget(visits_per_row: int) -> int:
    return max(1, VISIT_BUDGET // max(1, visits_per_row))


@dataclass(frozen=True)
class Forest:
    """Every tree of an ensemble in one flat node space: node ``i`` of tree ``t`` is ``t * width + i``.

    A leaf is its own left and right child, so ``depth`` steps from the roots land every row on a leaf of
    every tree whatever each tree's own depth. ``children[2 * node + go_right]`` is the next node.
    """

    feature: np.ndarray
    threshold: np.ndarray
    children: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int

    @property
    def visits_per_row(self) -> int:
        return len(self.roots) * max(1, self.depth)

    def leaf_values(self, features: np.ndarray) -> np.ndarray:
        """(rows, trees, outputs): the value of the leaf each row reaches in each tree."""
        flat = features.ravel()
        row_start = (np.arange(len(features)) * features.shape[1])[:, None]
        node = np.broadcast_to(self.roots, (len(features), len(self.roots)))
        for _ in range(self.depth):
            # A float32 input against a float64 threshold compares as double, as scikit-learn's tree does.
            go_right = flat[row_start + self.feature[node]] > self.threshold[node]
            node = self.children[2 * node + go_right]
        leaves: np.ndarray = self.value[node]
        return leaves


def pack_trees(trees: Sequence[Any], values: Sequence[np.ndarray]) -> Forest:
    """One Forest from scikit-learn ``Tree`` objects and the per-node value each tree contributes."""
    width = max(int(tree.node_count) for tree in trees)
    size = len(trees) * width
    outputs = values[0].shape[1]
    feature = np.zeros(size, dtype=np.intp)
    threshold = np.zeros(size, dtype=np.float64)
    children = np.repeat(
        np.arange(size, dtype=np.intp), 2
    )  # every node its own child: padding nodes are leaves
    value = np.zeros((size, outputs), dtype=np.float64)
    depth = 0
    for index, (tree, tree_value) in enumerate(zip(trees, values, strict=True)):
        count, base = int(tree.node_count), index * width
        nodes = np.arange(count)
        leaf = tree.children_left == _LEAF
        feature[base : base + count] = np.where(leaf, 0, tree.feature)
        threshold[base : base + count] = tree.threshold
        children[2 * base : 2 * (base + count) : 2] = np.where(leaf, nodes, tree.children_left) + base
        children[2 * base + 1 : 2 * (base + count) : 2] = np.where(leaf, nodes, tree.children_right) + base
        value[base : base + count] = tree_value
        depth = max(depth, int(tree.max_depth))
    return Forest(feature, threshold, children, value, np.arange(len(trees)) * width, depth)


def _binary(positive: np.ndarray) -> np.ndarray:
    """[P(class 0), P(class 1)] as scikit-learn builds it from the positive class: 1 - p beside p."""
    return np.column_stack((1.0 - positive, positive))


@dataclass(frozen=True)
class GradientBoostingKernel:
    """Binary log-loss gradient boosting: the init's log-odds, plus each stage's leaf times the learning
    rate added in stage order (ensemble/_gradient_boosting.pyx predict_stages), then the logistic."""

    forest: Forest
    learning_rate: float
    init_raw: float

    @property
    def max_rows(self) -> int:
        return _rows_within_budget(self.forest.visits_per_row)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        steps = self.forest.leaf_values(features)[:, :, 0] * self.learning_rate
        start = np.full((len(features), 1), self.init_raw)
        raw = np.cumsum(np.concatenate((start, steps), axis=1), axis=1)[:, -1]
        return _binary(expit(raw))


@dataclass(frozen=True)
class ForestKernel:
    """A random (or extra-trees) forest: each tree's leaf class fractions summed in tree order from zero,
    then divided by the number of trees (ensemble/_forest.py ``_accumulate_prediction``)."""

    forest: Forest

    @property
    def max_rows(self) -> int:
        return _rows_within_budget(self.forest.visits_per_row)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        total = np.cumsum(self.forest.leaf_values(features), axis=1)[:, -1, :]
        return np.asarray(total / len(self.forest.roots), dtype=np.float64)


@dataclass(frozen=True)
class LogisticKernel:
    """Binary logistic regression: the logistic of ``X @ coef_.T + intercept_`` (linear_model/_base.py)."""

    coef: np.ndarray
    intercept: np.ndarray

    @property
    def max_rows(self) -> int:
        return _rows_within_budget(self.coef.size)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        decision = (features @ self.coef + self.intercept).reshape(-1)
        return _binary(expit(decision))


def _init_log_odds(estimator: Any) -> float:
    """The raw prediction gradient boosting starts from: 0 for ``init="zero"``, else the prior's positive
    share clipped to (eps, 1 - eps) as log-odds (ensemble/_gb.py ``_init_raw_predictions``)."""
    from sklearn.dummy import DummyClassifier

    init = estimator.init_
    if isinstance(init, str) and init == "zero":
        return 0.0
    if type(init) is not DummyClassifier or init.strategy != "prior":
        raise KernelError(f"gradient boosting init {type(init).__name__} depends on the input")
    eps = np.finfo(np.float64).eps
    prior = init.predict_proba(np.zeros((1, estimator.n_features_in_)))[:, 1]
    return float(logit(np.clip(prior, eps, 1 - eps, dtype=np.float64))[0])


def _gradient_boosting(estimator: Any) -> GradientBoostingKernel:
    classes = len(estimator.classes_)
    if estimator.loss != "log_loss" or classes != 2:
        raise KernelError(f"gradient boosting with loss {estimator.loss!r} over {classes} classes")
    init_raw = _init_log_odds(estimator)
    trees = [stage[0].tree_ for stage in estimator.estimators_]
    values = [tree.value[:, 0, :] for tree in trees]
    return GradientBoostingKernel(pack_trees(trees, values), float(estimator.learning_rate), init_raw)


def _forest(estimator: Any) -> ForestKernel:
    if estimator.n_outputs_ != 1:
        raise KernelError(f"forest with {estimator.n_outputs_} outputs")
    classes = int(estimator.n_classes_)
    trees = [member.tree_ for member in estimator.estimators_]
    return ForestKernel(pack_trees(trees, [tree.value[:, 0, :classes] for tree in trees]))


def _logistic(estimator: Any) -> LogisticKernel:
    if len(estimator.classes_) != 2:
        raise KernelError(f"logistic regression over {len(estimator.classes_)} classes")
    return LogisticKernel(np.asarray(estimator.coef_, dtype=np.float64).T, np.asarray(estimator.intercept_))


def compile_estimator(estimator: Any) -> Kernel:
    """The kernel of a fitted estimator, or KernelError naming what it does not reproduce."""
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    kind = type(estimator)  # exact types: a subclass may predict differently
    if kind is GradientBoostingClassifier:
        return _gradient_boosting(estimator)
    if kind in (RandomForestClassifier, ExtraTreesClassifier):
        return _forest(estimator)
    if kind is LogisticRegression:
        return _logistic(estimator)
    raise KernelError(f"no kernel for {kind.__name__}")


def probe_rows(kernel: Kernel, width: int, dtype: np.dtype[Any], seed: int = 0) -> np.ndarray:
    """Rows in the estimator's input space that reach both sides of every split: per feature, each
    threshold the trees test it against, as stored in ``dtype`` and its neighbours either way, plus values
    beyond the extremes, every one of them in at least one row (at least _PROBES rows, more when a feature
    has more values to probe), shuffled per feature so rows mix them; for a linear model, spread normal
    values. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    if not isinstance(kernel, GradientBoostingKernel | ForestKernel):
        return np.ascontiguousarray(rng.normal(scale=3.0, size=(_PROBES, width)), dtype=dtype)
    forest = kernel.forest
    split = forest.children[0::2] != np.arange(len(forest.feature))
    columns: list[np.ndarray] = []
    for column in range(width):
        at = forest.threshold[split & (forest.feature == column)].astype(dtype)
        if not len(at):
            columns.append(np.zeros(1, dtype=dtype))
            continue
        up, down = np.nextafter(at, dtype.type(np.inf)), np.nextafter(at, dtype.type(-np.inf))
        beyond = np.array([at.min() - 1, at.max() + 1], dtype=dtype)
        columns.append(np.concatenate((at, up, down, beyond)))
    count = max(_PROBES, *(len(values) for values in columns))
    rows = np.empty((count, width), dtype=dtype)
    for column, values in enumerate(columns):
        rows[:, column] = np.resize(rng.permutation(values), count)  # repeats: every value at least once
    return rows


def load_kernel(estimator: Any, width: int, dtype: np.dtype[Any]) -> Kernel:
    """The estimator's kernel, checked against its own predict_proba on probe rows (KernelError if not
    within TOLERANCE anywhere, or if the estimator has no kernel)."""
    kernel = compile_estimator(estimator)
    probes = probe_rows(kernel, width, dtype)
    expected = np.asarray(estimator.predict_proba(probes), dtype=np.float64)
    got = kernel.predict_proba(probes)
    if got.shape != expected.shape:
        raise KernelError(f"kernel answers shape {got.shape}, the estimator {expected.shape}")
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= TOLERANCE:
        raise KernelError(f"kernel differs from the estimator by {difference:.3g} on probe rows")
    return kernel
