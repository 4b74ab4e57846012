"""Drift statistics: the training baseline, streaming bin counts over live rows, and PSI.

Memory is bounded by the number of bins, never by the number of rows: only counts are kept.
"""

from __future__ import annotations

import contextlib
import json
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import sub
from typing import Any

BASELINE_FORMAT_VERSION = 1
PSI_FLOOR = 1e-4
# Baseline writers round their shares; a sum this close to 1 is accepted.
FREQUENCY_SUM_TOLERANCE = 1e-3


class BaselineError(ValueError):
    """baseline.json (or schema.json) does not match docs/formats.md; the message names the field."""


class InvalidValue(ValueError):
    """A live feature value or probability that cannot be placed in a bin."""

    def __init__(self, field: str, value: object, expected: str):
        super().__init__(f"{field}: expected {expected}, got {value!r}")
        self.field = field


@dataclass(frozen=True)
class NumericBaseline:
    name: str
    edges: tuple[float, ...]
    frequencies: tuple[float, ...]


@dataclass(frozen=True)
class CategoricalBaseline:
    name: str
    categories: tuple[str | int, ...]
    frequencies: tuple[float, ...]


@dataclass(frozen=True)
class PredictionBaseline:
    edges: tuple[float, ...]
    frequencies: tuple[float, ...]


FeatureBaseline = NumericBaseline | CategoricalBaseline


@dataclass(frozen=True)
class Baseline:
    record_count: int
    features: tuple[FeatureBaseline, ...]
    prediction: PredictionBaseline

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)


def psi(live_counts: Sequence[int], base_frequencies: Sequence[float]) -> float | None:
    """PSI = sum((live - base) * ln(live / base)) over bins, shares floored at PSI_FLOOR; None if empty."""
    if len(live_counts) != len(base_frequencies):
        raise ValueError(f"live has {len(live_counts)} bins but the baseline has {len(base_frequencies)}")
    total = sum(live_counts)
    if total == 0:
        return None
    value = 0.0
    for count, base in zip(live_counts, base_frequencies, strict=True):
        live_share = max(count / total, PSI_FLOOR)
        base_share = max(base, PSI_FLOOR)
        value += (live_share - base_share) * math.log(live_share / base_share)
    return value


def _require(document: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in document:
        raise BaselineError(f"{where}.{key}: required field is missing")
    return document[key]


def _finite_number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BaselineError(f"{field}: expected a finite number, got {value!r}")
    return float(value)


def _edges(value: object, field: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise BaselineError(f"{field}: expected a list of numbers, got {value!r}")
    edges = tuple(_finite_number(edge, f"{field}[{i}]") for i, edge in enumerate(value))
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            raise BaselineError(
                f"{field}: expected strictly increasing values, got {edges[i - 1]} then {edges[i]}"
            )
    return edges


def _frequencies(value: object, field: str, expected_length: int) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != expected_length:
        raise BaselineError(f"{field}: expected a list of {expected_length} shares, got {value!r}")
    shares = tuple(_finite_number(share, f"{field}[{i}]") for i, share in enumerate(value))
    if any(share < 0 for share in shares):
        raise BaselineError(f"{field}: expected non-negative shares, got {list(shares)}")
    if abs(sum(shares) - 1.0) > FREQUENCY_SUM_TOLERANCE:
        raise BaselineError(f"{field}: expected shares summing to 1, got a sum of {sum(shares)}")
    return shares


def _feature(document: object, where: str) -> FeatureBaseline:
    if not isinstance(document, dict):
        raise BaselineError(f"{where}: expected an object, got {document!r}")
    name = _require(document, "name", where)
    if not isinstance(name, str) or not name:
        raise BaselineError(f"{where}.name: expected a non-empty string, got {name!r}")
    kind = _require(document, "type", where)
    if kind == "numeric":
        edges = _edges(_require(document, "edges", where), f"{where}.edges")
        frequencies = _frequencies(
            _require(document, "frequencies", where), f"{where}.frequencies", len(edges) + 1
        )
        return NumericBaseline(name, edges, frequencies)
    if kind == "categorical":
        categories = _require(document, "categories", where)
        if (
            not isinstance(categories, list)
            or not categories
            or any(isinstance(c, bool) or not isinstance(c, str | int) for c in categories)
            or len({str(c) for c in categories}) != len(categories)
        ):
            raise BaselineError(
                f"{where}.categories: expected a non-empty list of distinct strings, got {categories!r}"
            )
        frequencies = _frequencies(
            _require(document, "frequencies", where), f"{where}.frequencies", len(categories)
        )
        return CategoricalBaseline(name, tuple(categories), frequencies)
    raise BaselineError(f"{where}.type: expected 'numeric' or 'categorical', got {kind!r}")


def parse_baseline(document: object) -> Baseline:
    """Validate a decoded baseline.json (docs/formats.md) into a Baseline."""
    if not isinstance(document, dict):
        raise BaselineError(f"baseline: expected a JSON object, got {type(document).__name__}")
    version = _require(document, "format_version", "baseline")
    if version != BASELINE_FORMAT_VERSION:
        raise BaselineError(f"baseline.format_version: expected {BASELINE_FORMAT_VERSION}, got {version!r}")
    record_count = _require(document, "record_count", "baseline")
    if isinstance(record_count, bool) or not isinstance(record_count, int) or record_count <= 0:
        raise BaselineError(f"baseline.record_count: expected a positive integer, got {record_count!r}")
    raw_features = _require(document, "features", "baseline")
    if not isinstance(raw_features, list) or not raw_features:
        raise BaselineError(f"baseline.features: expected a non-empty list, got {raw_features!r}")
    features = tuple(_feature(raw, f"baseline.features[{i}]") for i, raw in enumerate(raw_features))
    names = [feature.name for feature in features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BaselineError(f"baseline.features: expected distinct names, got duplicates {duplicates}")
    raw_prediction = _require(document, "prediction", "baseline")
    if not isinstance(raw_prediction, dict):
        raise BaselineError(f"baseline.prediction: expected an object, got {raw_prediction!r}")
    prediction_edges = _edges(
        _require(raw_prediction, "edges", "baseline.prediction"), "baseline.prediction.edges"
    )
    if prediction_edges and not (prediction_edges[0] > 0.0 and prediction_edges[-1] < 1.0):
        raise BaselineError(
            f"baseline.prediction.edges: expected cut points inside (0, 1), got {list(prediction_edges)}"
        )
    prediction_frequencies = _frequencies(
        _require(raw_prediction, "frequencies", "baseline.prediction"),
        "baseline.prediction.frequencies",
        len(prediction_edges) + 1,
    )
    return Baseline(record_count, features, PredictionBaseline(prediction_edges, prediction_frequencies))


def load_baseline(text: str | bytes) -> Baseline:
    """Parse and validate the text of a baseline.json."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise BaselineError(f"baseline: not valid JSON ({error})") from error
    return parse_baseline(document)


def parse_schema_feature_names(document: object) -> tuple[str, ...]:
    """Feature names of a decoded schema.json, in column order (the order of CSV and list payloads)."""
    if not isinstance(document, dict):
        raise BaselineError(f"schema: expected a JSON object, got {type(document).__name__}")
    features = _require(document, "features", "schema")
    if not isinstance(features, list) or not features:
        raise BaselineError(f"schema.features: expected a non-empty list, got {features!r}")
    names = []
    for i, feature in enumerate(features):
        name = feature.get("name") if isinstance(feature, dict) else None
        if not isinstance(name, str) or not name:
            raise BaselineError(f"schema.features[{i}].name: expected a non-empty string, got {feature!r}")
        names.append(name)
    return tuple(names)


def _category_index(categories: tuple[str | int, ...]) -> dict[object, int]:
    index: dict[object, int] = {}
    for position, category in enumerate(categories):
        index[category] = position
        index[str(category)] = position
    return index


class RecordBatch:
    """Records laid out flat, so a batch keeps no per-record containers alive (the collector never walks
    them): every row's values in one list, every P(positive) in another, and each record's row count."""

    def __init__(self, width: int):
        self.width = width
        self.values: list[Any] = []
        self.probabilities: list[Any] = []
        self.row_counts: list[int] = []

    def __len__(self) -> int:
        return len(self.row_counts)

    def add(self, rows: Sequence[Sequence[object]], probabilities: Sequence[object]) -> None:
        """Append one record whose rows pair one to one with its probabilities."""
        if len(rows) != len(probabilities):
            raise ValueError(f"record: {len(rows)} rows but {len(probabilities)} probabilities")
        for row in rows:
            if len(row) != self.width:
                raise ValueError(f"record: expected rows of {self.width} values, got {len(row)}")
            self.values.extend(row)
        self.probabilities.extend(probabilities)
        self.row_counts.append(len(rows))

    def records(self) -> Iterator[tuple[list[list[Any]], list[Any]]]:
        """The records again, as (rows, probabilities)."""
        width, values, probabilities = self.width, self.values, self.probabilities
        first = 0
        for count in self.row_counts:
            rows = [values[(first + row) * width : (first + row + 1) * width] for row in range(count)]
            yield rows, probabilities[first : first + count]
            first += count

    def clear(self) -> None:
        self.values.clear()
        self.probabilities.clear()
        self.row_counts.clear()


def _sorted_bins(edges: tuple[float, ...], ordered: list[Any]) -> dict[int, int]:
    """Bin counts of sorted numbers: bin i holds edges[i-1] <= x < edges[i], bisect_right's bins, found
    with one bisection per edge instead of one per value."""
    below = [bisect_left(ordered, edge) for edge in edges]
    return dict(enumerate(map(sub, [*below, len(ordered)], [0, *below])))


def _probability_bins(edges: tuple[float, ...], probabilities: list[Any]) -> dict[int, int] | None:
    """Bin counts of probabilities: floats or ints only (not bools, not strings), finite, in [0, 1]."""
    if not set(map(type, probabilities)) <= {float, int}:
        return None
    try:
        if not math.isfinite(sum(probabilities)):
            return None
    except OverflowError:
        return None
    ordered = sorted(probabilities)
    if not (ordered[0] >= 0.0 and ordered[-1] <= 1.0):
        return None
    return _sorted_bins(edges, ordered)


def _column_bins(
    edges: tuple[float, ...] | None, index: dict[object, int] | None, values: list[Any]
) -> Mapping[Any, int] | None:
    """Bin counts of one column's values, or None when some value needs the record-by-record path."""
    if edges is not None:
        try:
            numbers = list(map(float, values))
            if not math.isfinite(sum(numbers)):
                return None
        except (TypeError, ValueError, OverflowError):
            return None
        numbers.sort()
        return _sorted_bins(edges, numbers)
    assert index is not None
    try:
        positions: Counter[int | None] = Counter(map(index.get, values))
    except TypeError:
        return None
    # An uncommon spelling or an unknown category: record by record.
    return None if None in positions else positions


class DriftAccumulator:
    """Bin counts per feature (columns in payload order) and for the positive-class probability."""

    def __init__(self, baseline: Baseline, columns: Sequence[str]):
        by_name = {feature.name: feature for feature in baseline.features}
        if sorted(columns) != sorted(by_name) or len(set(columns)) != len(columns):
            raise BaselineError(
                f"baseline.features: expected the schema's features {sorted(columns)}, got {sorted(by_name)}"
            )
        self.baseline = baseline
        self.columns = tuple(columns)
        features = [by_name[name] for name in self.columns]
        # Categorical features carry one extra "other" bin whose baseline share is 0.
        self._counts = [
            [0] * (len(f.frequencies) + (1 if isinstance(f, CategoricalBaseline) else 0)) for f in features
        ]
        # Per column: (edges, None, counts) for numeric, (None, category index, counts) for categorical.
        self._columns: tuple[tuple[Any, Any, list[int]], ...] = tuple(
            (f.edges, None, counts)
            if isinstance(f, NumericBaseline)
            else (None, _category_index(f.categories), counts)
            for f, counts in zip(features, self._counts, strict=True)
        )
        self._prediction_edges = baseline.prediction.edges
        self._prediction_counts = [0] * len(baseline.prediction.frequencies)
        self.rows = 0

    def add(self, rows: Sequence[Sequence[object]], positive_probabilities: Sequence[object]) -> None:
        """Count one record's rows; if any value is unusable, raise InvalidValue with nothing counted."""
        try:
            self._count(rows, positive_probabilities, 1)
        except InvalidValue:
            # Binning is deterministic: replaying with -1 stops at the same value, undoing exactly what was added.
            with contextlib.suppress(InvalidValue):
                self._count(rows, positive_probabilities, -1)
            raise
        self.rows += len(rows)

    def add_records(
        self, records: Sequence[tuple[Sequence[Sequence[object]], Sequence[object]]]
    ) -> list[tuple[int, InvalidValue]]:
        """Count many records at once; returns (position, error) of each record that was counted nothing.

        The same counts as add() record by record (see add_batch).
        """
        batch = RecordBatch(len(self._columns))
        for rows, probabilities in records:
            batch.add(rows, probabilities)
        return self.add_batch(batch)

    def add_batch(self, batch: RecordBatch) -> list[tuple[int, InvalidValue]]:
        """Count a batch's records; returns (position, error) of each record that was counted nothing.

        The same counts as add() record by record: whole columns are binned in C (map, Counter) when every
        value is usable, else the batch is counted record by record, which finds and skips the bad ones.
        """
        if batch.width != len(self._columns):
            raise ValueError(f"batch: expected rows of {len(self._columns)} values, got {batch.width}")
        if self._count_columns(batch):
            return []
        rejected = []
        for position, (rows, probabilities) in enumerate(batch.records()):
            try:
                self.add(rows, probabilities)
            except InvalidValue as error:
                rejected.append((position, error))
        return rejected

    def _count_columns(self, batch: RecordBatch) -> bool:
        """Bin every value of `batch` column by column, or count nothing and return False."""
        values, probabilities = batch.values, batch.probabilities
        width = len(self._columns)
        if not probabilities or len(values) != width * len(probabilities):
            return False
        predictions = _probability_bins(self._prediction_edges, probabilities)
        if predictions is None:
            return False
        binned: list[tuple[list[int], Mapping[Any, int]]] = [(self._prediction_counts, predictions)]
        for column, (edges, index, counts) in enumerate(self._columns):
            found = _column_bins(edges, index, values[column::width])
            if found is None:
                return False
            binned.append((counts, found))
        for counts, positions in binned:
            for position, count in positions.items():
                counts[position] += count
        self.rows += len(probabilities)
        return True

    def _count(self, rows: Sequence[Sequence[Any]], probabilities: Sequence[Any], delta: int) -> None:
        columns = self._columns
        width = len(columns)
        for row in rows:
            if len(row) != width:
                raise InvalidValue("row", row, f"{width} values")
            for (edges, index, counts), value in zip(columns, row):  # noqa: B905 (length checked above)
                if edges is not None:
                    try:
                        number = float(value)
                    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float
                        raise InvalidValue(self._name_of(counts), value, "a number") from None
                    if number - number:
                        raise InvalidValue(self._name_of(counts), value, "a finite number")
                    counts[bisect_right(edges, number)] += delta
                else:
                    try:
                        position = index.get(value)
                    except TypeError:
                        raise InvalidValue(self._name_of(counts), value, "a category value") from None
                    if position is None:
                        position = self._uncommon_category(index, counts, value)
                    counts[position] += delta
        edges = self._prediction_edges
        prediction_counts = self._prediction_counts
        for probability in probabilities:
            if probability.__class__ is not float and (
                isinstance(probability, bool) or not isinstance(probability, int | float)
            ):
                raise InvalidValue("probability", probability, "a probability in [0, 1]")
            if not 0.0 <= probability <= 1.0:
                raise InvalidValue("probability", probability, "a probability in [0, 1]")
            prediction_counts[bisect_right(edges, probability)] += delta

    def _name_of(self, counts: list[int]) -> str:
        for name, candidate in zip(self.columns, self._counts, strict=True):
            if candidate is counts:
                return name
        raise LookupError("counts do not belong to this accumulator")

    def _uncommon_category(self, index: dict[object, int], counts: list[int], value: object) -> int:
        if value is None or isinstance(value, list | dict):
            raise InvalidValue(self._name_of(counts), value, "a category value")
        if isinstance(value, str):
            position = index.get(value.strip())
            if position is not None:
                return position
        return len(counts) - 1

    def merge(self, other: DriftAccumulator) -> None:
        if other.columns != self.columns or other.baseline != self.baseline:
            raise ValueError("cannot merge accumulators built on different baselines")
        for mine, theirs in zip(self._counts, other._counts, strict=True):
            for i, count in enumerate(theirs):
                mine[i] += count
        for i, count in enumerate(other._prediction_counts):
            self._prediction_counts[i] += count
        self.rows += other.rows

    def add_counts(
        self, feature_counts: Mapping[str, Sequence[int]], prediction_counts: Sequence[int], rows: int
    ) -> None:
        """Add bin counts taken by another accumulator on the same baseline (see feature_counts)."""
        if sorted(feature_counts) != sorted(self.columns) or len(prediction_counts) != len(
            self._prediction_counts
        ):
            raise ValueError("cannot add counts taken on a different baseline")
        for name, mine in zip(self.columns, self._counts, strict=True):
            theirs = feature_counts[name]
            if len(theirs) != len(mine):
                raise ValueError(f"feature_counts[{name!r}]: expected {len(mine)} bins, got {len(theirs)}")
            for i, count in enumerate(theirs):
                mine[i] += count
        for i, count in enumerate(prediction_counts):
            self._prediction_counts[i] += count
        self.rows += rows

    def feature_counts(self) -> dict[str, list[int]]:
        return {name: list(counts) for name, counts in zip(self.columns, self._counts, strict=True)}

    def prediction_counts(self) -> list[int]:
        return list(self._prediction_counts)

    def feature_psi(self) -> dict[str, float]:
        """PSI per feature in baseline order; empty when no rows were counted."""
        if self.rows == 0:
            return {}
        by_name = dict(zip(self.columns, self._counts, strict=True))
        result = {}
        for feature in self.baseline.features:
            base = feature.frequencies
            if isinstance(feature, CategoricalBaseline):
                base = (*base, 0.0)
            value = psi(by_name[feature.name], base)
            if value is not None:
                result[feature.name] = value
        return result

    def prediction_psi(self) -> float | None:
        return psi(self._prediction_counts, self.baseline.prediction.frequencies)
