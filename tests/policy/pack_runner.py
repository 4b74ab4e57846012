"""Runs the policy pack's validate functions over recorded resources, as the Pulumi engine would.

The engine hands policies camelCase inputs wrapped in unknown-checking proxies, the resource's provider
and, for stack policies, every resource with its property dependencies. The offline harness records the
same camelCase inputs, so the adapter only rebuilds those objects; the mock's physical id stands in for the
`id` output that references to a resource (e.g. a bucket policy's `bucket`) resolve to.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.guardrails import rules

PACK_CONFIG_DIR = Path(__file__).resolve().parents[2] / "policy" / "config"


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


@dataclass
class Fixture:
    """One resource as a policy sees it; `provider` is the name of another fixture (a provider)."""

    type: str
    name: str
    props: dict[str, Any]
    provider: str | None = None
    id: str | None = None
    # What the stack policies see: the engine gives them outputs (inputs plus autonames, ARNs, ...).
    outputs: dict[str, Any] | None = None

    @property
    def urn(self) -> str:
        return f"urn:pulumi:test::sagestack::{self.type}::{self.name}"


def pack_config(stack: str) -> dict[str, dict[str, Any]]:
    path = PACK_CONFIG_DIR / f"{stack}.json"
    return json.loads(path.read_text())


def fixtures_from_recording(recording: Any) -> list[Fixture]:
    """Recorded resources (tests/infra/harness.py) as fixtures, each pointing at its recorded provider."""
    providers = {r.name for r in recording.resources if r.type.startswith("pulumi:providers:")}
    fixtures = []
    for resource in recording.resources:
        # A provider reference is "<provider urn>::<provider id>"; the urn ends with "::<provider name>".
        parts = resource.provider.split("::")
        provider = parts[-2] if len(parts) >= 2 and parts[-2] in providers else None
        fixtures.append(
            Fixture(
                type=resource.type,
                name=resource.name,
                props=copy.deepcopy(resource.inputs),
                provider=provider,
                id=resource.physical_id,
                outputs=copy.deepcopy(resource.state),
            )
        )
    return fixtures


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _provider(fixture: Fixture, by_name: Mapping[str, Fixture]) -> PolicyProviderResource | None:
    if fixture.provider is None:
        return None
    provider = by_name[fixture.provider]
    return PolicyProviderResource(
        provider.type, unknown_checking_proxy(dict(provider.props)), provider.urn, provider.name
    )


def run_resource_policies(
    fixtures: Sequence[Fixture],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: Sequence[Any] = rules.RESOURCE_POLICIES,
) -> list[Violation]:
    by_name = {f.name: f for f in fixtures}
    violations: list[Violation] = []
    for fixture in fixtures:
        if fixture.type.startswith("pulumi:providers:"):
            continue  # the engine analyses provider resources only as the `provider` of others
        for policy in policies:

            def report(
                message: str,
                _urn: str | None = None,
                policy_name: str = policy.name,
                name: str = fixture.name,
            ) -> None:
                violations.append(Violation(policy_name, name, message))

            args = ResourceValidationArgs(
                fixture.type,
                unknown_checking_proxy(dict(fixture.props)),
                fixture.urn,
                fixture.name,
                _options(),
                _provider(fixture, by_name),
                dict((config or {}).get(policy.name, {})),
            )
            policy.validate(args, report)
    return violations


def run_stack_policies(
    fixtures: Sequence[Fixture],
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: Sequence[Any] = rules.STACK_POLICIES,
) -> list[Violation]:
    by_name = {f.name: f for f in fixtures}
    names_by_urn = {f.urn: f.name for f in fixtures}
    resources = []
    for fixture in fixtures:
        props = dict(fixture.outputs if fixture.outputs is not None else fixture.props)
        if fixture.id is not None:
            props.setdefault("id", fixture.id)
        resources.append(
            PolicyResource(
                fixture.type,
                unknown_checking_proxy(props),
                fixture.urn,
                fixture.name,
                _options(),
                _provider(fixture, by_name),
                None,
                [],
                {},
            )
        )
    violations: list[Violation] = []
    for policy in policies:

        def report(message: str, urn: str | None = None, policy_name: str = policy.name) -> None:
            violations.append(Violation(policy_name, names_by_urn.get(urn or "", "(stack)"), message))

        policy.validate(StackValidationArgs(resources, dict((config or {}).get(policy.name, {}))), report)
    return violations


def run_pack(
    fixtures: Sequence[Fixture], config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Violation]:
    return run_resource_policies(fixtures, config) + run_stack_policies(fixtures, config)
