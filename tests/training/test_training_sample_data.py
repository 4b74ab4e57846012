from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import contract
import dataset
import sample_data


def test_same_seed_same_rows_other_seed_other_rows():
    first = sample_data.generate_customers(500, 5)
    pd.testing.assert_frame_equal(first, sample_data.generate_customers(500, 5))
    assert not first.equals(sample_data.generate_customers(500, 6))


def test_sample_rows_satisfy_the_schema(sample_channels):
    train = dataset.load_channel(sample_channels["train"], "train")
    validation = dataset.load_channel(sample_channels["validation"], "validation")
    assert len(train) + len(validation) == 3000
    assert len(validation) == 600
    assert 0.15 < train["churned"].mean() < 0.5


def test_features_are_correlated_like_a_customer_base():
    data = sample_data.generate_customers(4000, 1)
    tenure_by_contract = data.groupby("contract")["tenure_months"].mean()
    assert tenure_by_contract["two-year"] > tenure_by_contract["month-to-month"] + 20
    assert np.corrcoef(data["tenure_months"], data["total_charges"])[0, 1] > 0.7
    churn_by_contract = data.groupby("contract")["churned"].mean()
    assert churn_by_contract["month-to-month"] > 2 * churn_by_contract["two-year"]


def test_numeric_drift_shifts_only_the_chosen_feature():
    data = sample_data.generate_customers(2000, 3)
    drifted = sample_data.drift(data, ["monthly_charges"], seed=3)
    assert (
        drifted["monthly_charges"].mean()
        > data["monthly_charges"].mean() + 0.5 * data["monthly_charges"].std()
    )
    assert drifted["monthly_charges"].max() <= contract.feature("monthly_charges").max
    pd.testing.assert_frame_equal(
        drifted.drop(columns=["monthly_charges"]), data.drop(columns=["monthly_charges"])
    )


def test_categorical_drift_reweights_only_the_chosen_feature():
    data = sample_data.generate_customers(2000, 3)
    drifted = sample_data.drift(data, ["contract", "tenure_months"], seed=3)
    before = data["contract"].value_counts(normalize=True)
    after = drifted["contract"].value_counts(normalize=True)
    assert after["month-to-month"] < before["month-to-month"] - 0.2
    assert after["two-year"] > before["two-year"] + 0.2
    assert drifted["tenure_months"].dtype == data["tenure_months"].dtype
    untouched = [c for c in data.columns if c not in ("contract", "tenure_months")]
    pd.testing.assert_frame_equal(drifted[untouched], data[untouched])


def test_drift_of_an_undeclared_feature_is_rejected():
    with pytest.raises(KeyError, match="unknown feature 'salary'"):
        sample_data.drift(sample_data.generate_customers(10, 1), ["salary"], seed=1)


def test_command_line_writes_channels_deterministically(tmp_path, capsys):
    assert (
        sample_data.main(["--out", str(tmp_path / "a"), "--rows", "300", "--seed", "4", "--drift", "age"])
        == 0
    )
    assert (
        sample_data.main(["--out", str(tmp_path / "b"), "--rows", "300", "--seed", "4", "--drift", "age"])
        == 0
    )
    for channel in ("train", "validation"):
        a = (tmp_path / "a" / channel / f"{channel}.csv").read_bytes()
        assert a == (tmp_path / "b" / channel / f"{channel}.csv").read_bytes()
    assert "train:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--rows", "1"], ["--drift", "salary"], []], ids=["too-few-rows", "unknown-feature", "no-out"]
)
def test_command_line_rejects_bad_arguments(tmp_path, argv, capsys):
    out = [] if argv == [] else ["--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exited:
        sample_data.main(out + argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err
