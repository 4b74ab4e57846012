"""Synthetic customer-churn data that follows the schema of contract.py (no downloads).

Features are correlated the way a telecom customer base is (long contracts go with long tenure,
fiber costs more and draws more support calls) and the label comes from a logistic model of the
features plus noise, so a fitted model reaches a ROC AUC of about 0.8. Everything is
deterministic for a seed.

    python training/sample_data.py --out DIR --rows 5000 --seed 7 [--drift tenure_months contract]

writes DIR/train/train.csv and DIR/validation/validation.csv (one folder per training channel).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import contract

VALIDATION_FRACTION = 0.2
NUMERIC_SHIFT_IN_STD = 1.0


def generate_customers(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` customers with the schema's feature columns (schema order) and the label."""
    if rows < 1:
        raise ValueError(f"rows: got {rows}, expected at least 1")
    rng = np.random.default_rng(seed)
    contract_terms = rng.choice(["month-to-month", "one-year", "two-year"], size=rows, p=[0.55, 0.25, 0.20])
    internet = rng.choice(["dsl", "fiber-optic", "none"], size=rows, p=[0.35, 0.45, 0.20])
    payment = rng.choice(
        ["electronic-check", "mailed-check", "bank-transfer", "credit-card"],
        size=rows,
        p=[0.35, 0.2, 0.22, 0.23],
    )
    mean_tenure = np.select(
        [contract_terms == "two-year", contract_terms == "one-year"], [55.0, 35.0], default=14.0
    )
    tenure = np.clip(np.round(rng.gamma(shape=2.0, scale=mean_tenure / 2.0)), 0, 120)
    base_charge = np.select([internet == "fiber-optic", internet == "dsl"], [85.0, 55.0], default=22.0)
    monthly = np.clip(np.round(base_charge + rng.normal(0.0, 12.0, rows), 2), 5.0, 200.0)
    total = np.clip(np.round(tenure * monthly * rng.normal(1.0, 0.05, rows), 2), 0.0, 25000.0)
    calls_rate = 1.0 + 1.5 * (internet == "fiber-optic") + 0.8 * (contract_terms == "month-to-month")
    support_calls = np.clip(rng.poisson(calls_rate), 0, 50)
    age = np.clip(np.round(rng.normal(46.0, 14.0, rows)), 18, 90)

    logit = (
        -1.6
        + 1.4 * (contract_terms == "month-to-month")
        - 0.6 * (contract_terms == "two-year")
        - 0.035 * tenure
        + 0.018 * (monthly - 65.0)
        + 0.30 * support_calls
        + 0.55 * (payment == "electronic-check")
        + 0.35 * (internet == "fiber-optic")
        - 0.012 * (age - 46.0)
        + rng.normal(0.0, 0.6, rows)
    )
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure_months": tenure.astype(int),
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls.astype(int),
            "age": age.astype(int),
            "contract": contract_terms,
            "payment_method": payment,
            "internet_service": internet,
            contract.LABEL: churned,
        },
        columns=list(contract.COLUMN_NAMES),
    )


def split(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation), validation being a seeded random ``VALIDATION_FRACTION`` of the rows."""
    order = np.random.default_rng(seed + 1).permutation(len(data))
    validation_size = max(1, round(len(data) * VALIDATION_FRACTION))
    validation = data.iloc[np.sort(order[:validation_size])].reset_index(drop=True)
    train = data.iloc[np.sort(order[validation_size:])].reset_index(drop=True)
    return train, validation


def drift(data: pd.DataFrame, features: Sequence[str], seed: int) -> pd.DataFrame:
    """A copy with only ``features`` changed: numeric ones shifted up by one standard deviation
    (clipped to the declared range), categorical ones redrawn with their category shares reversed."""
    rng = np.random.default_rng(seed + 2)
    drifted = data.copy()
    for name in features:
        declared = contract.feature(name)
        if isinstance(declared, contract.NumericFeature):
            column = data[name].astype(float)
            shifted = np.clip(column + NUMERIC_SHIFT_IN_STD * column.std(), declared.min, declared.max)
            drifted[name] = (
                shifted.round().astype(data[name].dtype) if data[name].dtype.kind == "i" else shifted
            )
        else:
            shares = (
                data[name].value_counts(normalize=True).reindex(list(declared.categories), fill_value=0.0)
            )
            reversed_shares = shares.to_numpy()[::-1]
            drifted[name] = rng.choice(
                list(declared.categories), size=len(data), p=reversed_shares / reversed_shares.sum()
            )
    return drifted


def write_dataset(out_dir: Path, rows: int, seed: int, drift_features: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``out_dir/train/train.csv`` and ``out_dir/validation/validation.csv``; return channel dirs."""
    data = generate_customers(rows, seed)
    if drift_features:
        data = drift(data, drift_features, seed)
    train, validation = split(data, seed)
    channels = {}
    for channel, frame in (("train", train), ("validation", validation)):
        channel_dir = Path(out_dir) / channel
        channel_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(channel_dir / f"{channel}.csv", index=False)
        channels[channel] = channel_dir
    return channels


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a synthetic churn dataset (train and validation channels)."
    )
    parser.add_argument("--out", type=Path, required=True, help="folder that receives train/ and validation/")
    parser.add_argument("--rows", type=int, default=5000, help="rows before the train/validation split")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--drift",
        nargs="*",
        default=[],
        choices=contract.FEATURE_NAMES,
        metavar="FEATURE",
        help="features to drift",
    )
    arguments = parser.parse_args(argv)
    if arguments.rows < 2:
        parser.error("--rows: expected at least 2 (one train and one validation row)")
    channels = write_dataset(arguments.out, arguments.rows, arguments.seed, arguments.drift)
    for channel, path in channels.items():
        print(f"{channel}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
