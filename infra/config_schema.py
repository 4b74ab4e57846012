"""The project's config schema (the `config:` block of Pulumi.yaml) and the stack files that override it.

Pulumi.yaml is the single source of defaults: the Pulumi engine applies them on a real `pulumi up`,
and this module applies them where no engine runs (the offline harness, the local rehearsal).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_NAME = "sagestack"


class StackFileError(ValueError):
    """A stack file that cannot be read as config for this project."""


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str
    default: Any
    description: str


# libyaml's safe loader when PyYAML's wheel carries it (it does on every platform we pin), else the pure one:
# the same documents and errors, about ten times faster on stack files (the settings tests load them ~100 times).
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """A YAML document as `yaml.safe_load` reads it."""
    return yaml.load(text, Loader=_SAFE_LOADER)


@cache
def project_config_schema(root: Path = PROJECT_ROOT) -> Mapping[str, ConfigKey]:
    """The keys Pulumi.yaml declares, in declaration order."""
    document = load_yaml((root / "Pulumi.yaml").read_text())
    keys = {}
    for name, spec in (document.get("config") or {}).items():
        keys[name] = ConfigKey(
            name=name, type=spec["type"], default=spec.get("default"), description=spec["description"]
        )
    return keys


def to_config_string(value: Any) -> str:
    """A config value in the string form `pulumi.Config.get` returns (structured values as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def stack_names(root: Path = PROJECT_ROOT) -> list[str]:
    """Every stack with a Pulumi.<stack>.yaml in the project, sorted."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in root.glob("Pulumi.*.yaml"))


@dataclass(frozen=True)
class StackConfig:
    """A stack's effective config: project defaults overlaid with the stack file, as Pulumi would see it."""

    stack: str
    region: str  # "" when the file sets no aws:region; settings names that as a problem
    values: Mapping[str, str]  # declared project keys without the `sagestack:` namespace
    other_values: Mapping[str, str]  # every other key, fully qualified: aws:region, and any unknown key

    def pulumi_config(self) -> dict[str, str]:
        """Fully qualified keys, for `pulumi.runtime.set_all_config`."""
        qualified = {f"{PROJECT_NAME}:{key}": value for key, value in self.values.items()}
        return {**qualified, **self.other_values}


def load_stack_config(stack: str, root: Path = PROJECT_ROOT) -> StackConfig:
    """The config a `pulumi up` of `stack` would hand the program; unknown keys are kept for settings to name."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(f"no stack file {path.name}; stacks here: {', '.join(stack_names(root))}")
    try:
        document = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name} is not valid YAML: {error}") from None
    overrides = document.get("config") if isinstance(document, dict) else None
    if not isinstance(overrides or {}, dict):
        raise StackFileError(f"{path.name}: `config` must be a mapping of keys to values")
    schema = project_config_schema(root)
    values = {name: to_config_string(key.default) for name, key in schema.items()}
    other_values: dict[str, str] = {}
    for written, value in (overrides or {}).items():
        # A key without a namespace belongs to the project, as for `pulumi config set <key>`
        # (https://www.pulumi.com/docs/iac/concepts/config/: the project name is the default namespace).
        qualified = str(written) if ":" in str(written) else f"{PROJECT_NAME}:{written}"
        namespace, _, key = qualified.partition(":")
        if namespace == PROJECT_NAME and key in schema:
            values[key] = to_config_string(value)
        else:
            other_values[qualified] = to_config_string(value)
    region = other_values.get("aws:region", "")
    return StackConfig(stack=stack, region=region, values=values, other_values=other_values)


REFERENCE_START = "<!-- config-reference:start (generated from Pulumi.yaml by `make docs`) -->"
REFERENCE_END = "<!-- config-reference:end -->"


def config_reference_markdown(root: Path = PROJECT_ROOT) -> str:
    """The README's config reference table, generated from Pulumi.yaml so the two cannot drift apart."""
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for key in project_config_schema(root).values():
        default = f"`{to_config_string(key.default)}`" if to_config_string(key.default) != "" else '`""`'
        rows.append(f"| `{PROJECT_NAME}:{key.name}` | {key.type} | {default} | {key.description} |")
    return "\n".join([REFERENCE_START, *rows, REFERENCE_END])


def update_readme(root: Path = PROJECT_ROOT) -> None:
    readme = root / "README.md"
    text = readme.read_text()
    start, end = text.index(REFERENCE_START), text.index(REFERENCE_END) + len(REFERENCE_END)
    readme.write_text(text[:start] + config_reference_markdown(root) + text[end:])


if __name__ == "__main__":
    update_readme()
