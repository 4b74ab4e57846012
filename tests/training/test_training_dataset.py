from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import contract
import dataset


@pytest.fixture
def rows(sample_frames) -> pd.DataFrame:
    """A small valid slice of the sample training rows (copy: tests mutate it)."""
    return sample_frames[0].head(40).copy()


def load(write_channels, frame: pd.DataFrame) -> pd.DataFrame:
    return dataset.load_channel(write_channels(train=frame)["train"], "train")


def load_error(write_channels, frame: pd.DataFrame) -> dataset.DataContractError:
    with pytest.raises(dataset.DataContractError) as caught:
        load(write_channels, frame)
    return caught.value


def test_valid_channel_loads_typed_in_schema_order(write_channels, rows):
    shuffled_columns = rows[list(reversed(rows.columns))]
    data = load(write_channels, shuffled_columns)
    assert list(data.columns) == list(contract.COLUMN_NAMES)
    assert len(data) == len(rows)
    assert data["churned"].dtype.kind == "i"
    for feature in contract.NUMERIC_FEATURES:
        assert data[feature.name].dtype == float
        np.testing.assert_allclose(data[feature.name], rows[feature.name].astype(float))
    assert list(data["contract"]) == list(rows["contract"])


def test_channel_concatenates_csv_and_parquet_files(tmp_path, rows):
    channel = tmp_path / "train"
    (channel / "part").mkdir(parents=True)
    rows.iloc[:15].to_csv(channel / "a.csv", index=False)
    rows.iloc[15:].to_parquet(channel / "part" / "b.parquet", index=False)
    (channel / "_SUCCESS").write_text("")
    data = dataset.load_channel(channel, "train")
    assert len(data) == len(rows)
    assert list(data["age"]) == [float(a) for a in rows["age"]]


def test_missing_feature_values_are_allowed_for_imputation(write_channels, rows):
    rows.loc[rows.index[3], "age"] = np.nan
    rows.loc[rows.index[5], "contract"] = np.nan
    data = load(write_channels, rows)
    assert data["age"].isna().sum() == 1
    assert data["contract"].isna().sum() == 1


def assert_names(error: dataset.DataContractError, column: str, *fragments: str) -> None:
    message = str(error)
    assert error.column == column
    assert f"'{column}'" in message
    assert "channel 'train' file train.csv" in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


def test_missing_column(write_channels, rows):
    error = load_error(write_channels, rows.drop(columns=["support_calls"]))
    assert_names(error, "support_calls", "missing column(s) ['support_calls']", "expected columns")


def test_unexpected_column(write_channels, rows):
    error = load_error(write_channels, rows.assign(customer_id=range(len(rows))))
    assert_names(error, "customer_id", "unexpected column(s) ['customer_id']")


def test_non_numeric_value_in_numeric_column(write_channels, rows):
    rows["monthly_charges"] = rows["monthly_charges"].astype(object)
    rows.loc[rows.index[6], "monthly_charges"] = "seventy"
    error = load_error(write_channels, rows)
    assert_names(
        error, "monthly_charges", "line 8", "'seventy' is not numeric", "expected a number in [0, 200]"
    )


def test_unknown_category(write_channels, rows):
    rows.loc[rows.index[2], "payment_method"] = "bitcoin"
    error = load_error(write_channels, rows)
    assert_names(error, "payment_method", "line 4", "unknown category 'bitcoin'", "'electronic-check'")


def test_category_is_case_sensitive(write_channels, rows):
    rows.loc[rows.index[0], "contract"] = "Two-Year"
    assert_names(load_error(write_channels, rows), "contract", "unknown category 'Two-Year'")


@pytest.mark.parametrize(("column", "value"), [("age", 12), ("tenure_months", -1), ("total_charges", 1e9)])
def test_value_out_of_range(write_channels, rows, column, value):
    rows.loc[rows.index[9], column] = value
    feature = contract.feature(column)
    error = load_error(write_channels, rows)
    assert_names(error, column, "line 11", "out of range", f"[{feature.min}, {feature.max}]")


def test_null_label(write_channels, rows):
    rows["churned"] = rows["churned"].astype(object)
    rows.loc[rows.index[4], "churned"] = None
    assert_names(load_error(write_channels, rows), "churned", "line 6", "null label", "one of [0, 1]")


@pytest.mark.parametrize("value", [2, "yes", 0.5])
def test_label_outside_the_classes(write_channels, rows, value):
    rows["churned"] = rows["churned"].astype(object)
    rows.loc[rows.index[1], "churned"] = value
    assert_names(load_error(write_channels, rows), "churned", "line 3", "is not a class")


def test_channel_with_a_single_class(write_channels, rows):
    error = load_error(write_channels, rows.assign(churned=0))
    assert error.column == "churned"
    assert "only holds class(es) [0]" in str(error)


def test_feature_null_in_every_row(write_channels, rows):
    error = load_error(write_channels, rows.assign(age=np.nan))
    assert error.column == "age"
    assert "'age' is null in every row" in str(error)


def test_empty_file(tmp_path):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.csv").write_bytes(b"")
    with pytest.raises(
        dataset.DataContractError, match=r"file train\.csv: file is empty; expected a header row"
    ):
        dataset.load_channel(channel, "train")


def test_header_without_rows(tmp_path):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "train.csv").write_text(",".join(contract.COLUMN_NAMES) + "\n")
    with pytest.raises(dataset.DataContractError, match="header but no data rows"):
        dataset.load_channel(channel, "train")


def test_channel_without_data_files(tmp_path):
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "notes.txt").write_text("nothing here")
    with pytest.raises(
        dataset.DataContractError, match=r"has no data files; expected \*\.csv or \*\.parquet"
    ):
        dataset.load_channel(channel, "train")


def test_missing_channel_directory(tmp_path):
    with pytest.raises(dataset.DataContractError, match="does not exist"):
        dataset.load_channel(tmp_path / "absent", "validation")


def test_unparsable_csv_is_reported_without_a_pandas_traceback(tmp_path, rows):
    channel = tmp_path / "train"
    channel.mkdir()
    text = rows.to_csv(index=False) + "1,2,3,4,5,6,7,8,9,10,11\n"
    (channel / "train.csv").write_text(text)
    with pytest.raises(
        dataset.DataContractError, match=re.escape("file train.csv: cannot be parsed")
    ) as caught:
        dataset.load_channel(channel, "train")
    assert caught.value.__suppress_context__


def test_error_names_the_offending_file_among_several(tmp_path, rows):
    channel = tmp_path / "train"
    channel.mkdir()
    rows.to_csv(channel / "part-1.csv", index=False)
    rows.drop(columns=["age"]).to_csv(channel / "part-2.csv", index=False)
    with pytest.raises(dataset.DataContractError, match=r"file part-2\.csv: missing column\(s\) \['age'\]"):
        dataset.load_channel(channel, "train")
