"""Configured keys the program does not read: unknown, misspelt, in a foreign namespace, or removed."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import cache

from infra.config_schema import PROJECT_NAME, project_config_schema

# Namespaces a stack may configure besides the project's own: the aws provider and Pulumi itself.
OTHER_NAMESPACES = ("aws", "pulumi")
DEPLOYMENT_STRATEGIES = ("all-at-once", "canary", "linear")
# Keys a stack file may still carry from an older release: each is an error that says what to do instead.
REMOVED_KEYS = {
    "driftEngine": "the key removed (delete it from the stack file): the stack's own drift engine is the only "
    "one; SageMaker Model Monitor was dropped (docs/decisions.md, 'Model Monitor: removed')",
}


@cache
def aws_provider_config_keys() -> tuple[str, ...]:
    """The config keys of the aws provider, as its Python SDK reads them (pulumi_aws/config/vars.py)."""
    import inspect

    from pulumi_aws.config import vars as aws_config

    return tuple(sorted(set(re.findall(r"__config__\.get\w*\('(\w+)'\)", inspect.getsource(aws_config)))))


def unknown_key_problems(configured_keys: Iterable[str]) -> list[str]:
    """Every configured key the program does not declare, with the closest declared key or namespace."""
    declared = list(project_config_schema())
    problems = []
    for qualified in sorted(set(configured_keys)):
        namespace, colon, key = qualified.partition(":")
        if not colon:
            problems.append(f"config key {qualified!r} has no namespace: expected {PROJECT_NAME}:<key>")
        elif namespace == PROJECT_NAME:
            if key not in declared and key not in REMOVED_KEYS:
                near = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
                hint = f"; did you mean {PROJECT_NAME}:{near[0]}?" if near else ""
                problems.append(f"unknown config key {qualified!r}: Pulumi.yaml declares no {key!r}{hint}")
        elif namespace == "aws" and key not in aws_provider_config_keys():
            near = difflib.get_close_matches(key, aws_provider_config_keys(), n=1, cutoff=0.6)
            hint = f"; did you mean aws:{near[0]}?" if near else ""
            problems.append(f"unknown config key {qualified!r}: the aws provider has no {key!r}{hint}")
        elif namespace not in OTHER_NAMESPACES:
            known = [PROJECT_NAME, *OTHER_NAMESPACES]
            near = difflib.get_close_matches(namespace, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}:{key}?" if near else ""
            problems.append(
                f"unknown config namespace {namespace!r} in {qualified!r}: expected one of "
                f"{', '.join(known)}{hint}"
            )
    return problems
