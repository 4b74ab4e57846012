"""Load a training channel and hold it to the schema declared in contract.py.

What a channel directory may contain:

- one or more ``*.csv`` (header row, comma separated) and/or ``*.parquet`` files, read in name
  order and concatenated; other files (a ``_SUCCESS`` marker, a manifest) are ignored;
- exactly the label and the feature columns of the schema, in any column order;
- the label ``churned`` in every row, 0 or 1 (no nulls), and both classes present;
- numeric features: numbers within the declared ``[min, max]``;
- categorical features: one of the declared categories (exact, case-sensitive).

Missing feature values (an empty CSV cell, a Parquet null) are allowed: the pipeline imputes them
(median for numeric, most frequent category for categorical) because live requests can lack them
too. A feature that is missing in every row of a channel is an error: there is nothing to learn
from or impute with.

Every violation raises DataContractError with a message naming the file, the column, the first
offending row and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import contract

DATA_SUFFIXES = (".csv", ".parquet")


class DataContractError(ValueError):
    """The data does not match the declared schema; the message says where and what was expected."""

    def __init__(self, message: str, *, column: str | None = None, source: str | None = None):
        super().__init__(message)
        self.column = column
        self.source = source


def channel_files(channel_dir: Path) -> list[Path]:
    """The data files of a channel, in name order (recursing into subfolders, as S3 prefixes do)."""
    if not channel_dir.is_dir():
        raise DataContractError(f"channel directory {channel_dir} does not exist", source=str(channel_dir))
    files = sorted(
        path
        for path in channel_dir.rglob("*")
        if path.is_file() and path.suffix.lower() in DATA_SUFFIXES and not path.name.startswith(".")
    )
    if not files:
        raise DataContractError(
            f"channel {channel_dir} has no data files; expected *.csv or *.parquet files",
            source=str(channel_dir),
        )
    return files


def _read_file(path: Path, label: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataContractError(f"{label}: file is empty; expected a header row and data rows", source=label)
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        # Read everything as text so that type errors are reported by us, per column, not by pandas.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skipinitialspace=False)
    except pd.errors.EmptyDataError:
        raise DataContractError(
            f"{label}: file is empty; expected a header row and data rows", source=label
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataContractError(f"{label}: cannot be parsed ({first_line})", source=label) from None


def _row_reference(path: Path, position: int) -> str:
    # CSV: report the line number a person sees in an editor (header is line 1).
    return f"line {position + 2}" if path.suffix.lower() == ".csv" else f"row {position}"


def _check_columns(frame: pd.DataFrame, label: str) -> None:
    columns = [str(column) for column in frame.columns]
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if duplicated:
        raise DataContractError(
            f"{label}: duplicated column(s) {duplicated}", column=duplicated[0], source=label
        )
    missing = [column for column in contract.COLUMN_NAMES if column not in columns]
    if missing:
        raise DataContractError(
            f"{label}: missing column(s) {missing}; expected columns {list(contract.COLUMN_NAMES)}",
            column=missing[0],
            source=label,
        )
    unexpected = [column for column in columns if column not in contract.COLUMN_NAMES]
    if unexpected:
        raise DataContractError(
            f"{label}: unexpected column(s) {unexpected}; expected only {list(contract.COLUMN_NAMES)}",
            column=unexpected[0],
            source=label,
        )


def _first_position(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _numeric_column(values: pd.Series, feature: contract.NumericFeature, path: Path, label: str) -> pd.Series:
    expected = f"a number in [{feature.min}, {feature.max}]"
    if values.dtype == bool:
        raise DataContractError(
            f"{label}: column {feature.name!r} holds booleans; expected {expected}",
            column=feature.name,
            source=label,
        )
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    not_numeric = (numbers.isna() & values.notna()).to_numpy()
    if not_numeric.any():
        position = _first_position(not_numeric)
        raise DataContractError(
            f"{label}: column {feature.name!r} {_row_reference(path, position)}: "
            f"value {values.iloc[position]!r} is not numeric; expected {expected}",
            column=feature.name,
            source=label,
        )
    present = numbers.to_numpy()
    out_of_range = ~np.isnan(present) & (
        (present < feature.min) | (present > feature.max) | np.isinf(present)
    )
    if out_of_range.any():
        position = _first_position(out_of_range)
        raise DataContractError(
            f"{label}: column {feature.name!r} {_row_reference(path, position)}: "
            f"value {present[position]!r} is out of range; expected {expected}",
            column=feature.name,
            source=label,
        )
    return numbers


def _categorical_column(
    values: pd.Series, feature: contract.CategoricalFeature, path: Path, label: str
) -> pd.Series:
    present = values.notna().to_numpy()
    as_objects = values.astype(object)
    unknown = present & ~as_objects.isin(feature.categories).to_numpy()
    if unknown.any():
        position = _first_position(unknown)
        raise DataContractError(
            f"{label}: column {feature.name!r} {_row_reference(path, position)}: "
            f"unknown category {as_objects.iloc[position]!r}; expected one of {list(feature.categories)}",
            column=feature.name,
            source=label,
        )
    return as_objects.where(present, np.nan)


def _label_column(values: pd.Series, path: Path, label: str) -> pd.Series:
    name = contract.LABEL
    expected = f"the label must be one of {list(contract.CLASSES)} in every row"
    missing = values.isna().to_numpy()
    if missing.any():
        position = _first_position(missing)
        raise DataContractError(
            f"{label}: column {name!r} {_row_reference(path, position)}: null label; {expected}",
            column=name,
            source=label,
        )
    numbers = pd.to_numeric(values, errors="coerce") if values.dtype != bool else values.astype(float)
    valid = numbers.isin([float(c) for c in contract.CLASSES]).to_numpy()
    if not valid.all():
        position = _first_position(~valid)
        raise DataContractError(
            f"{label}: column {name!r} {_row_reference(path, position)}: "
            f"value {values.iloc[position]!r} is not a class; {expected}",
            column=name,
            source=label,
        )
    return numbers.astype(int)


def validate_frame(frame: pd.DataFrame, path: Path, label: str) -> pd.DataFrame:
    """Check one file's rows against the schema; return them typed, in schema column order."""
    _check_columns(frame, label)
    if frame.empty:
        raise DataContractError(f"{label}: file has a header but no data rows", source=label)
    frame = frame.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    for feature in contract.FEATURES:
        if isinstance(feature, contract.NumericFeature):
            typed[feature.name] = _numeric_column(frame[feature.name], feature, path, label)
        else:
            typed[feature.name] = _categorical_column(frame[feature.name], feature, path, label)
    typed[contract.LABEL] = _label_column(frame[contract.LABEL], path, label)
    return pd.DataFrame(typed, columns=list(contract.COLUMN_NAMES))


def load_channel(channel_dir: Path, channel: str) -> pd.DataFrame:
    """All rows of a channel, validated, with the columns in ``contract.COLUMN_NAMES`` order."""
    channel_dir = Path(channel_dir)
    frames = []
    for path in channel_files(channel_dir):
        label = f"channel {channel!r} file {path.relative_to(channel_dir).as_posix()}"
        frames.append(validate_frame(_read_file(path, label), path, label))
    data = pd.concat(frames, ignore_index=True)
    for name in contract.FEATURE_NAMES:
        if data[name].isna().all():
            raise DataContractError(
                f"channel {channel!r}: column {name!r} is null in every row; expected at least some values",
                column=name,
                source=channel,
            )
    classes_seen = sorted(int(c) for c in data[contract.LABEL].unique())
    if classes_seen != list(contract.CLASSES):
        raise DataContractError(
            f"channel {channel!r}: column {contract.LABEL!r} only holds class(es) {classes_seen}; "
            f"expected rows of every class {list(contract.CLASSES)}",
            column=contract.LABEL,
            source=channel,
        )
    return data


def features(data: pd.DataFrame) -> pd.DataFrame:
    """The feature columns in schema order (what the model's predict_proba takes)."""
    return data.loc[:, list(contract.FEATURE_NAMES)]


def labels(data: pd.DataFrame) -> np.ndarray:
    labels: np.ndarray = data[contract.LABEL].to_numpy(dtype=int)
    return labels
