"""Reading raw config strings: every key read is recorded, every bad value collected as one problem."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from infra.config_schema import PROJECT_NAME
from training import contract

T = TypeVar("T")

# Config key -> the training contract's hyperparameter it sets; the contract's table holds the bounds.
HYPERPARAMETER_KEYS = {
    "estimator": "estimator",
    "nEstimators": "n_estimators",
    "maxDepth": "max_depth",
    "learningRate": "learning_rate",
    "regularizationC": "C",
    "minSamplesLeaf": "min_samples_leaf",
    "randomSeed": "random_state",
}
# Namespaces a stack may configure besides the project's own: the aws provider and Pulumi itself.


class ConfigReader:
    """Reads raw config strings, records every key read and collects every problem."""

    def __init__(self, values: Mapping[str, str]):
        self._values = values
        self.keys_read: list[str] = []
        self.problems: list[str] = []

    def _raw(self, key: str) -> str:
        self.keys_read.append(key)
        if key not in self._values:
            raise KeyError(f"config key {key!r} is read by infra/settings.py but not declared in Pulumi.yaml")
        return self._values[key]

    def fail(self, key: str, value: object, expected: str) -> None:
        self.problems.append(f"{PROJECT_NAME}:{key} = {value!r}: expected {expected}")

    def _parsed(self, key: str, parse: Callable[[str], T], expected: str, fallback: T) -> T:
        raw = self._raw(key)
        try:
            return parse(raw)
        except ValueError:
            self.fail(key, raw, expected)
            return fallback

    def string(
        self, key: str, pattern: re.Pattern[str] | None = None, expected: str = "", *, optional: bool = False
    ) -> str:
        value = self._raw(key)
        if optional and value == "":
            return value
        # fullmatch: a pattern without "$" (stack_names.NAME) would accept any tail, and "$" a trailing newline
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(key, value, expected)
        return value

    def boolean(self, key: str) -> bool:
        def parse(raw: str) -> bool:
            if raw not in ("true", "false"):
                raise ValueError(raw)
            return raw == "true"

        return self._parsed(key, parse, "true or false", False)

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._parsed(key, int, f"a whole number from {low} to {high}", low)
        if not low <= value <= high:
            self.fail(key, value, f"a whole number from {low} to {high}")
        return value

    def number(self, key: str, low: float, high: float, *, low_open: bool = False) -> float:
        bounds = f"{'(' if low_open else '['}{low}, {high}]"
        value = self._parsed(key, float, f"a decimal number in {bounds}", high)
        if math.isnan(value) or value > high or value < low or (low_open and value == low):
            self.fail(key, value, f"a decimal number in {bounds}")
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str:
        value = self._raw(key)
        if value not in allowed:
            self.fail(key, value, f"one of {', '.join(allowed)}")
            return allowed[0]
        return value

    def hyperparameter(self, key: str) -> str | int | float:
        """A training hyperparameter, checked by the training contract's own table (one source of bounds)."""
        spec = contract.HYPERPARAMETERS_BY_NAME[HYPERPARAMETER_KEYS[key]]
        raw = self._raw(key)
        try:
            return spec.parse(raw)
        except ValueError:
            self.fail(key, raw, f"{spec.expectation()} (training/contract.py, hyperparameter {spec.name!r})")
            return spec.default

    _TAG = re.compile(r"^[\w .:/=+@-]{1,256}$")

    def required_tag(self, key: str, tag: str) -> str:
        value = self._raw(key)
        if value == "":
            self.fail(
                key,
                value,
                f"the stack's {tag!r} tag, set per stack (`pulumi config set {PROJECT_NAME}:{key} <value>`); "
                "it has no default, so no stack is tagged with a placeholder",
            )
        elif not self._TAG.fullmatch(value):
            self.fail(key, value, "a tag value (1-256 letters, digits, spaces or _.:/=+@-)")
        return value

    def member(self, key: str, allowed: frozenset[str], what: str) -> str:
        value = self._raw(key)
        if value not in allowed:
            near = sorted(a for a in allowed if a.split(".")[:2] == value.split(".")[:2])[:8]
            hint = f" (e.g. {', '.join(near)})" if near else ""
            self.fail(key, value, f"{what}{hint}")
        return value

    def string_list(self, key: str, pattern: re.Pattern[str], expected: str) -> tuple[str, ...]:
        raw = self._raw(key)
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self.fail(key, raw, f"a list of {expected}")
            return ()
        for item in items:
            if not pattern.fullmatch(item):
                self.fail(key, item, expected)
        return tuple(items)
