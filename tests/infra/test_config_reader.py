"""ConfigReader (infra/config_reader.py) on its own: each reader's bounds, fallback and exact message.

Literal expectations throughout: a message is what an operator reads, so it is pinned word for word.
"""

from __future__ import annotations

import math
import re

import pytest

from infra.config_reader import HYPERPARAMETER_KEYS, ConfigReader

WORD = re.compile(r"^[a-z]+$")


def reader(**values: str) -> ConfigReader:
    return ConfigReader(values)


def test_hyperparameter_keys_map_each_config_key_to_the_contract_name() -> None:
    assert HYPERPARAMETER_KEYS == {
        "estimator": "estimator",
        "nEstimators": "n_estimators",
        "maxDepth": "max_depth",
        "learningRate": "learning_rate",
        "regularizationC": "C",
        "minSamplesLeaf": "min_samples_leaf",
        "randomSeed": "random_state",
    }


def test_every_key_read_is_recorded_in_order_even_when_its_value_is_bad() -> None:
    r = reader(a="x", b="nope", c="1")
    r.string("a")
    r.boolean("b")
    r.integer("c", 1, 2)
    assert r.keys_read == ["a", "b", "c"]
    assert r.problems == ["sagestack:b = 'nope': expected true or false"]


def test_a_key_not_in_the_values_is_a_programming_error_naming_pulumi_yaml() -> None:
    r = reader()
    with pytest.raises(KeyError) as error:
        r.string("missingKey")
    assert error.value.args == (
        "config key 'missingKey' is read by infra/settings.py but not declared in Pulumi.yaml",
    )
    assert r.keys_read == ["missingKey"]


def test_fail_names_the_namespaced_key_the_value_repr_and_the_expectation() -> None:
    r = reader()
    r.fail("k", "v", "w")
    r.fail("n", 3, "x")
    assert r.problems == ["sagestack:k = 'v': expected w", "sagestack:n = 3: expected x"]


# --- string ---------------------------------------------------------------------------------------------


def test_a_string_matching_its_pattern_or_without_one_is_returned_as_is() -> None:
    r = reader(a="abc", b="ANY thing")
    assert r.string("a", WORD, "letters") == "abc"
    assert r.string("b") == "ANY thing"
    assert r.problems == []


def test_a_string_not_matching_its_pattern_is_a_problem_and_still_returned() -> None:
    r = reader(a="ab1")
    assert r.string("a", WORD, "lowercase letters") == "ab1"
    assert r.problems == ["sagestack:a = 'ab1': expected lowercase letters"]


def test_an_empty_optional_string_skips_the_pattern_but_a_required_one_does_not() -> None:
    r = reader(a="", b="")
    assert r.string("a", WORD, "letters", optional=True) == ""
    assert r.string("b", WORD, "letters") == ""
    assert r.problems == ["sagestack:b = '': expected letters"]


def test_an_optional_string_that_is_set_is_still_checked() -> None:
    r = reader(a="1")
    r.string("a", WORD, "letters", optional=True)
    assert r.problems == ["sagestack:a = '1': expected letters"]


def test_a_string_without_an_expectation_says_expected_and_nothing_more() -> None:
    r = reader(a="1")
    r.string("a", WORD)
    assert r.problems == ["sagestack:a = '1': expected "]


# --- boolean --------------------------------------------------------------------------------------------


def test_a_boolean_is_exactly_true_or_false() -> None:
    r = reader(t="true", f="false")
    assert r.boolean("t") is True
    assert r.boolean("f") is False
    assert r.problems == []


@pytest.mark.parametrize("raw", ["True", "FALSE", "yes", "1", "", " true"])
def test_anything_else_is_a_problem_and_reads_as_false(raw: str) -> None:
    r = reader(b=raw)
    assert r.boolean("b") is False
    assert r.problems == [f"sagestack:b = {raw!r}: expected true or false"]


# --- integer --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("5", 5), ("7", 7), ("10", 10), ("-0", 0), ("+10", 10)])
def test_an_integer_within_both_inclusive_bounds_is_returned(raw: str, value: int) -> None:
    low = 0 if value == 0 else 5
    r = reader(n=raw)
    assert r.integer("n", low, 10) == value
    assert r.problems == []


@pytest.mark.parametrize("raw", ["4", "11", "-5"])
def test_an_integer_outside_the_bounds_is_a_problem_naming_them(raw: str) -> None:
    r = reader(n=raw)
    assert r.integer("n", 5, 10) == int(raw)
    assert r.problems == [f"sagestack:n = {int(raw)}: expected a whole number from 5 to 10"]


@pytest.mark.parametrize("raw", ["five", "5.0", "", "1e3"])
def test_a_non_integer_is_one_problem_and_reads_as_the_low_bound(raw: str) -> None:
    r = reader(n=raw)
    assert r.integer("n", 5, 10) == 5
    assert r.problems == [f"sagestack:n = {raw!r}: expected a whole number from 5 to 10"]


# --- number ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["0.5", "0.75", "1.0", "1", "5e-1"])
def test_a_number_within_a_closed_range_is_returned(raw: str) -> None:
    r = reader(x=raw)
    assert r.number("x", 0.5, 1.0) == float(raw)
    assert r.problems == []


@pytest.mark.parametrize("raw", ["0.4999", "1.0001", "-1", "inf", "-inf"])
def test_a_number_outside_a_closed_range_is_a_problem_naming_it(raw: str) -> None:
    r = reader(x=raw)
    assert r.number("x", 0.5, 1.0) == float(raw)
    assert r.problems == [f"sagestack:x = {float(raw)!r}: expected a decimal number in [0.5, 1.0]"]


def test_nan_is_never_within_a_range() -> None:
    r = reader(x="nan")
    assert math.isnan(r.number("x", 0.0, 10.0))
    assert r.problems == ["sagestack:x = nan: expected a decimal number in [0.0, 10.0]"]


def test_an_open_low_bound_refuses_the_bound_itself_and_says_so() -> None:
    r = reader(low="0.0", tiny="1e-9", high="10")
    assert r.number("low", 0.0, 10.0, low_open=True) == 0.0
    assert r.number("tiny", 0.0, 10.0, low_open=True) == 1e-9
    assert r.number("high", 0.0, 10.0, low_open=True) == 10.0
    assert r.problems == ["sagestack:low = 0.0: expected a decimal number in (0.0, 10.0]"]


def test_a_closed_low_bound_is_the_default() -> None:
    r = reader(low="0")
    assert r.number("low", 0.0, 10.0) == 0.0
    assert r.problems == []


@pytest.mark.parametrize("raw", ["high", "", "0x1"])
def test_a_non_number_is_one_problem_and_reads_as_the_high_bound(raw: str) -> None:
    r = reader(x=raw)
    assert r.number("x", 0.5, 1.0) == 1.0
    assert r.problems == [f"sagestack:x = {raw!r}: expected a decimal number in [0.5, 1.0]"]


# --- choice ---------------------------------------------------------------------------------------------


def test_a_choice_is_one_of_the_allowed_values() -> None:
    r = reader(c="b")
    assert r.choice("c", ("a", "b")) == "b"
    assert r.problems == []


def test_any_other_choice_is_a_problem_listing_them_and_reads_as_the_first() -> None:
    r = reader(c="B")
    assert r.choice("c", ("a", "b", "c")) == "a"
    assert r.problems == ["sagestack:c = 'B': expected one of a, b, c"]


# --- hyperparameter -------------------------------------------------------------------------------------


def test_a_hyperparameter_is_parsed_by_the_contracts_spec() -> None:
    r = reader(nEstimators="250", learningRate="0.5", estimator="random_forest")
    assert r.hyperparameter("nEstimators") == 250
    assert r.hyperparameter("learningRate") == 0.5
    assert r.hyperparameter("estimator") == "random_forest"
    assert r.keys_read == ["nEstimators", "learningRate", "estimator"]
    assert r.problems == []


def test_a_bad_hyperparameter_quotes_the_contract_and_reads_as_its_default() -> None:
    r = reader(nEstimators="0", maxDepth="deep")
    assert r.hyperparameter("nEstimators") == 100
    assert r.hyperparameter("maxDepth") == 3
    assert r.problems == [
        "sagestack:nEstimators = '0': expected an integer in [1, 5000] "
        "(training/contract.py, hyperparameter 'n_estimators')",
        "sagestack:maxDepth = 'deep': expected an integer in [0, 100] "
        "(training/contract.py, hyperparameter 'max_depth')",
    ]


# --- required tags --------------------------------------------------------------------------------------

# Tag values: up to 256 Unicode letters, digits, white space and + - = . _ : / @
# (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html, "Tag naming limits and requirements").
GOOD_TAGS = ["a", "x" * 256, "Team A_1.2:3/4=5+6@7-8", "é"]


@pytest.mark.parametrize("value", GOOD_TAGS)
def test_a_tag_value_of_allowed_characters_up_to_256_is_accepted(value: str) -> None:
    r = reader(owner=value)
    assert r.required_tag("owner", "owner") == value
    assert r.problems == []


@pytest.mark.parametrize("value", ["x" * 257, "a#b", "a!b", "a,b", "a\nb", "a*b"])
def test_a_tag_value_outside_that_alphabet_or_length_is_refused(value: str) -> None:
    r = reader(owner=value)
    assert r.required_tag("owner", "owner") == value
    assert r.problems == [
        f"sagestack:owner = {value!r}: expected a tag value (1-256 letters, digits, spaces or _.:/=+@-)"
    ]


def test_an_empty_required_tag_says_how_to_set_it() -> None:
    r = reader(costCentre="")
    assert r.required_tag("costCentre", "cost-centre") == ""
    assert r.problems == [
        "sagestack:costCentre = '': expected the stack's 'cost-centre' tag, set per stack "
        "(`pulumi config set sagestack:costCentre <value>`); it has no default, so no stack is tagged "
        "with a placeholder"
    ]


# --- member ---------------------------------------------------------------------------------------------

TYPES = frozenset(
    [f"ml.m5.{size}" for size in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")]
    + ["ml.m5.24xlarge", "ml.m5.metal", "ml.c5.large", "ml.c5.xlarge", "local.m5.large"]
)


def test_a_member_of_the_allowed_set_is_returned() -> None:
    r = reader(t="ml.c5.large")
    assert r.member("t", TYPES, "an instance type") == "ml.c5.large"
    assert r.problems == []


def test_a_non_member_is_hinted_with_at_most_8_of_its_family_sorted() -> None:
    r = reader(t="ml.m5.huge")
    assert r.member("t", TYPES, "an instance type") == "ml.m5.huge"
    assert r.problems == [
        "sagestack:t = 'ml.m5.huge': expected an instance type (e.g. ml.m5.12xlarge, ml.m5.16xlarge, "
        "ml.m5.24xlarge, ml.m5.2xlarge, ml.m5.4xlarge, ml.m5.8xlarge, ml.m5.large, ml.m5.metal)"
    ]


def test_a_family_of_fewer_than_8_is_listed_whole() -> None:
    r = reader(t="ml.c5.2xlarge")
    r.member("t", TYPES, "an instance type")
    assert r.problems == [
        "sagestack:t = 'ml.c5.2xlarge': expected an instance type (e.g. ml.c5.large, ml.c5.xlarge)"
    ]


@pytest.mark.parametrize("value", ["ml.p9.large", "m5.large", "ml-m5-large", ""])
def test_a_non_member_without_a_family_gets_no_hint(value: str) -> None:
    r = reader(t=value)
    r.member("t", TYPES, "an instance type")
    assert r.problems == [f"sagestack:t = {value!r}: expected an instance type"]


# --- string lists ---------------------------------------------------------------------------------------


def test_a_json_list_of_matching_strings_is_a_tuple() -> None:
    r = reader(l='["ab", "cd"]', e="[]")
    assert r.string_list("l", WORD, "words") == ("ab", "cd")
    assert r.string_list("e", WORD, "words") == ()
    assert r.problems == []


@pytest.mark.parametrize(
    "raw", ['"ab"', "ab", "[ab]", '{"a": "b"}', "[1]", '["ab", 1]', '[["ab"]]', "null", ""]
)
def test_anything_but_a_json_list_of_strings_is_one_problem_and_reads_as_empty(raw: str) -> None:
    r = reader(l=raw)
    assert r.string_list("l", WORD, "words") == ()
    assert r.problems == [f"sagestack:l = {raw!r}: expected a list of words"]


def test_each_item_not_matching_is_named_on_its_own() -> None:
    r = reader(l='["ok", "B", "fine", "c1"]')
    assert r.string_list("l", WORD, "words") == ("ok", "B", "fine", "c1")
    assert r.problems == ["sagestack:l = 'B': expected words", "sagestack:l = 'c1': expected words"]


# --- the whole value, never a prefix ----------------------------------------------------------------------

UNANCHORED = re.compile(r"[a-z]+")  # like infra/stack_names.NAME, which has no "^" or "$"


def test_a_pattern_must_match_the_whole_value() -> None:
    # "ab_C!" once passed as namePrefix: the pattern matched its first two letters (re.match, not fullmatch).
    r = reader(a="ab_C!", b="ab\n", l='["ok", "ok\\n", "ok!"]')
    r.string("a", UNANCHORED, "letters")
    r.string("b", WORD, "letters")  # "$" alone lets a trailing newline through
    r.string_list("l", UNANCHORED, "words")
    assert r.problems == [
        "sagestack:a = 'ab_C!': expected letters",
        "sagestack:b = 'ab\\n': expected letters",
        "sagestack:l = 'ok\\n': expected words",
        "sagestack:l = 'ok!': expected words",
    ]


def test_a_tag_value_with_a_trailing_newline_is_refused() -> None:
    r = reader(owner="me\n")
    r.required_tag("owner", "owner")
    assert r.problems == [
        "sagestack:owner = 'me\\n': expected a tag value (1-256 letters, digits, spaces or _.:/=+@-)"
    ]
