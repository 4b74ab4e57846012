from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import contract

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_schema_document_matches_the_shared_format():
    document = contract.schema_document()
    assert document["format_version"] == 1
    assert document["label"] == "churned"
    assert document["classes"] == [0, 1]
    names = [feature["name"] for feature in document["features"]]
    assert names == list(contract.FEATURE_NAMES)
    assert len(set(names)) == len(names)
    assert contract.LABEL not in names
    for feature in document["features"]:
        if feature["type"] == "numeric":
            assert set(feature) == {"name", "type", "min", "max"}
            assert feature["min"] < feature["max"]
        else:
            assert feature["type"] == "categorical"
            assert set(feature) == {"name", "type", "categories"}
            assert len(feature["categories"]) == len(set(feature["categories"])) >= 2
    assert json.loads(json.dumps(document)) == document


def test_schema_has_numeric_and_categorical_features():
    assert len(contract.NUMERIC_FEATURES) == 5
    assert len(contract.CATEGORICAL_FEATURES) == 3
    assert (*contract.FEATURE_NAMES, "churned") == contract.COLUMN_NAMES


def test_features_are_immutable():
    with pytest.raises(AttributeError):
        contract.FEATURES[0].name = "renamed"  # type: ignore[misc]


def test_feature_lookup_names_the_allowed_features():
    assert contract.feature("age").name == "age"
    with pytest.raises(KeyError, match=r"unknown feature 'salary'.*tenure_months"):
        contract.feature("salary")


def test_hyperparameter_defaults_cover_every_declared_hyperparameter():
    assert set(contract.HYPERPARAMETER_DEFAULTS) == {
        "estimator",
        "n_estimators",
        "max_depth",
        "learning_rate",
        "C",
        "min_samples_leaf",
        "random_state",
    }
    assert contract.HYPERPARAMETER_DEFAULTS["estimator"] in contract.ESTIMATORS
    for hyperparameter in contract.HYPERPARAMETERS:
        assert hyperparameter.parse(str(hyperparameter.default)) == hyperparameter.default
    with pytest.raises(TypeError):
        contract.HYPERPARAMETER_DEFAULTS["C"] = 2.0  # type: ignore[index]


def test_one_letter_hyperparameter_uses_a_single_dash_flag():
    assert contract.HYPERPARAMETERS_BY_NAME["C"].flag == "-C"
    assert contract.HYPERPARAMETERS_BY_NAME["n_estimators"].flag == "--n_estimators"


def test_validate_hyperparameters_returns_request_strings():
    assert contract.validate_hyperparameters(
        {"estimator": "random_forest", "n_estimators": 50, "C": "0.5"}
    ) == {
        "estimator": "random_forest",
        "n_estimators": "50",
        "C": "0.5",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_trees": "10"}, r"unknown hyperparameter\(s\) \['n_trees'\]"),
        ({"estimator": "svm"}, r"'estimator': got 'svm', expected one of \['gradient_boosting'"),
        ({"n_estimators": "ten"}, r"'n_estimators': got 'ten', expected an integer in \[1, 5000\]"),
        ({"n_estimators": "0"}, r"'n_estimators': got '0', expected an integer"),
        ({"n_estimators": "2.5"}, r"'n_estimators': got '2.5'"),
        ({"learning_rate": "2"}, r"'learning_rate': got '2', expected a number in \[1e-06, 1.0\]"),
        ({"C": "nan"}, r"'C': got 'nan'"),
        ({"C": True}, r"'C': got True"),
        ({"random_state": "-1"}, r"'random_state': got '-1'"),
    ],
)
def test_validate_hyperparameters_rejects_bad_values_naming_the_key(values, message):
    with pytest.raises(ValueError, match=message):
        contract.validate_hyperparameters(values)


def test_metric_definitions_are_sagemaker_metric_definitions():
    definitions = contract.metric_definitions()
    assert [d["Name"] for d in definitions] == list(contract.VALIDATION_METRICS)
    assert contract.VALIDATION_METRICS == ("validation:accuracy", "validation:f1", "validation:roc_auc")
    assert contract.OBJECTIVE_METRIC in contract.VALIDATION_METRICS
    for definition in definitions:
        assert set(definition) == {"Name", "Regex"}
        assert 1 <= len(definition["Regex"]) <= 500
        assert re.compile(definition["Regex"]).groups == 1


@pytest.mark.parametrize("value", [0.0, 1.0, 0.8431234567, 0.5])
def test_each_metric_regex_captures_its_own_line_only(value):
    lines = {name: contract.metric_line(name, value) for name in contract.VALIDATION_METRICS}
    for definition in contract.metric_definitions():
        own = re.search(definition["Regex"], lines[definition["Name"]])
        assert own is not None
        assert float(own.group(1)) == pytest.approx(value, abs=1e-6)
        others = [line for name, line in lines.items() if name != definition["Name"]]
        assert all(re.search(definition["Regex"], line) is None for line in others)


def test_metric_line_rejects_an_undeclared_metric():
    with pytest.raises(ValueError, match="unknown metric 'validation:loss'"):
        contract.metric_line("validation:loss", 0.1)


def test_contract_imports_only_the_standard_library():
    probe = (
        "import sys; import training.contract as c; "
        "heavy = sorted(m for m in ('numpy', 'pandas', 'sklearn', 'scipy') if m in sys.modules); "
        "print(heavy); assert not heavy and c.metric_definitions()"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "first, second",
    [("contract", "training.contract"), ("training.contract", "contract")],
    ids=["flat-first", "package-first"],
)
def test_one_module_object_under_both_names(first: str, second: str) -> None:
    # Issue 15: `training.contract` and `contract` were distinct module objects, so isinstance across them failed.
    probe = (
        f"import importlib, sys; sys.path.insert(0, 'training'); a = importlib.import_module({first!r}); "
        f"b = importlib.import_module({second!r}); from training import contract as c; "
        "assert a is b is c, (a, b, c); "
        "assert isinstance(a.FEATURES[0], type(b.FEATURES[0])) and a.FEATURES is b.FEATURES"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
