"""Runs the whole Pulumi program offline under recording mocks, once per stack file.

No Pulumi CLI, no provider plugin and no AWS credentials: `pulumi.runtime.set_mocks` answers every
resource registration and data-source call, and records what the program asked for.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra import images
from infra.config_schema import PROJECT_NAME, PROJECT_ROOT, load_stack_config, stack_names

ACCOUNT_ID = "123456789012"
ROLLOUT_TYPE = "pulumi-python:dynamic/sagestack:EndpointRollout"


@cache
def _partitions() -> dict[str, tuple[str, str]]:
    """region -> (partition id, DNS suffix), from botocore's endpoint data (what the provider resolves)."""
    from botocore.loaders import Loader

    return {
        region: (p["partition"], p["dnsSuffix"])
        for p in Loader().load_data("endpoints")["partitions"]
        for region in p["regions"]
    }


# terraform-provider-aws internal/service/meta/service_principal_data_source.go
# (servicePrincipalNameForPartition): outside the aws partition these services use the partition's DNS
# suffix; every other service principal ends in amazonaws.com.
_PARTITION_SUFFIX_SERVICES = {
    "aws-iso": {"cloudhsm", "config", "logs", "workspaces"},
    "aws-iso-b": {"dms", "logs"},
    "aws-cn": {"codedeploy", "elasticmapreduce", "logs"},
}


def service_principal_suffix(service: str, region: str) -> str:
    partition, dns_suffix = _partitions()[region]
    return dns_suffix if service in _PARTITION_SUFFIX_SERVICES.get(partition, set()) else "amazonaws.com"


__all__ = ["ACCOUNT_ID", "RecordedResource", "Recording", "run_program", "stack_names"]


@dataclass
class RecordedResource:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str
    custom: bool
    parent: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    urn: str = ""  # as the engine names it: the whole chain of parent types, then type and name
    aliases: list[str] = field(default_factory=list)  # the URNs this resource answers to as well
    depends_on: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(
        default_factory=dict
    )  # what the mock answered: inputs plus computed outputs

    @property
    def physical_id(self) -> str:
        return f"{self.name}-id"


@dataclass
class Recording:
    stack: str
    resources: list[RecordedResource]
    calls: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, Any]

    def of_type(self, resource_type: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == resource_type]

    def one(self, resource_type: str) -> RecordedResource:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {[r.name for r in found]}"
        return found[0]

    def aws_resources(self) -> Iterator[RecordedResource]:
        return (r for r in self.resources if r.type.startswith("aws:"))


def _arn(resource_type: str, name: str, inputs: dict[str, Any], region: str) -> str:
    module = resource_type.split(":")[1].split("/")[0]
    if module == "s3" and inputs.get("bucket") and resource_type == "aws:s3/bucket:Bucket":
        return f"arn:aws:s3:::{inputs['bucket']}"
    if module == "iam":
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs.get('name', name)}"
    if module == "lambda":
        return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{inputs.get('name', name)}"
    return f"arn:aws:{module}:{region}:{ACCOUNT_ID}:{resource_type.rsplit(':', 1)[1].lower()}/{name}"


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str):
        self.region = region
        self.resources: list[RecordedResource] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.resources.append(
            RecordedResource(
                type=args.typ,
                name=args.name,
                inputs=inputs,
                provider=args.provider or "",
                custom=bool(args.custom),
            )
        )
        physical = f"{args.name}-id"
        state = dict(inputs)
        state.setdefault("arn", _arn(args.typ, args.name, inputs, self.region))
        # Autonamed resources (no explicit name) get a name as Pulumi would: logical name plus a suffix.
        if "name" not in state and "namePrefix" in state:
            state["name"] = f"{state['namePrefix']}abc1234"
        state.setdefault("name", f"{args.name}-abc1234")
        if args.typ == "aws:kms/key:Key":
            state["keyId"] = physical
        if args.typ == "aws:s3/bucket:Bucket":
            state.setdefault("bucket", f"{args.name}-abc1234")
        if args.typ == ROLLOUT_TYPE:  # a successful rollout serves the configuration it was given
            state["served_endpoint_config_name"] = inputs["endpoint_config_name"]
        self.resources[-1].state = state
        return physical, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        inputs = dict(args.args)
        self.calls.append((args.token, inputs))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "userId": "AIDA",
                "id": ACCOUNT_ID,
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            partition, dns_suffix = _partitions()[self.region]
            return {
                "partition": partition,
                "dnsSuffix": dns_suffix,
                "reverseDnsPrefix": ".".join(reversed(dns_suffix.split("."))),
                "id": partition,
            }, []
        if args.token == "aws:index/getServicePrincipal:getServicePrincipal":
            region, service = inputs.get("region") or self.region, inputs["serviceName"]
            suffix = service_principal_suffix(service, region)
            return {
                "id": f"{service}.{region}.{suffix}",
                "name": f"{service}.{suffix}",
                "serviceName": service,
                "suffix": suffix,
                "region": region,
            }, []
        if args.token == "aws:sagemaker/getPrebuiltEcrImage:getPrebuiltEcrImage":
            region = inputs.get("region", self.region)
            repository, tag = inputs["repositoryName"], inputs.get("imageTag", "1")
            registry = images.registry_account(repository, region)
            if registry is None:  # the provider's own error, raised where a real run would raise it
                raise ValueError(
                    f"no registry ID available for region ({region}) and repository ({repository})"
                )
            dns_suffix = inputs.get("dnsSuffix") or _partitions()[region][1]
            return {
                "registryId": registry,
                "repositoryName": repository,
                "imageTag": tag,
                "region": region,
                "id": registry,
                "registryPath": f"{registry}.dkr.ecr.{region}.{dns_suffix}/{repository}:{tag}",
            }, []
        raise NotImplementedError(f"the offline harness has no answer for {args.token}")


def run_program(
    stack: str,
    config_overrides: dict[str, str] | None = None,
    mocks: RecordingMocks | None = None,
    root: Path = PROJECT_ROOT,
) -> Recording:
    """Run __main__.py for `stack` (its Pulumi.<stack>.yaml over Pulumi.yaml's defaults) and record it.

    The program gets the stack's whole config, unknown keys included, as `pulumi up` would hand it over;
    `root` is where the stack file lives (a generated fork in a test's temporary folder).
    """
    config = load_stack_config(stack, root)
    values = config.pulumi_config()
    for key, value in (config_overrides or {}).items():
        values[key if ":" in key else f"{PROJECT_NAME}:{key}"] = value
    mocks = mocks or RecordingMocks(values.get("aws:region", config.region))
    pulumi.runtime.set_all_config(values)
    pulumi_settings.ROOT.set(None)  # a fresh root stack per run, so stacks can be run one after another
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=False)
    # Resource options (protect, retain, parent, dependencies) reach the monitor but not the Mocks API.
    monitor = pulumi_settings.SETTINGS.monitor
    register = monitor.RegisterResource
    requests: dict[tuple[str, str], Any] = {}

    def record_request(request: Any) -> Any:
        requests[(request.type, request.name)] = request
        return register(request)

    monitor.RegisterResource = record_request
    exports: dict[str, Any] = {}
    original_export = pulumi.export

    def record_export(name: str, value: Any) -> None:
        exports[name] = value
        original_export(name, value)

    pulumi.export = record_export  # type: ignore[assignment]
    try:
        pulumi_settings.SETTINGS.rpc_manager.clear()
        _sync_await(
            run_pulumi_func(lambda: runpy.run_path(str(PROJECT_ROOT / "__main__.py"), run_name="__main__"))
        )
    finally:
        pulumi.export = original_export  # type: ignore[assignment]
    urns = _EngineUrns(stack, requests)
    for resource in mocks.resources:
        request = requests[(resource.type, resource.name)]
        resource.urn = urns.of(request)
        resource.aliases = [urns.alias(request, alias) for alias in request.aliases]
        resource.parent = request.parent
        resource.protect = bool(request.protect)
        resource.retain_on_delete = bool(request.retainOnDelete)
        resource.ignore_changes = list(request.ignoreChanges)
        resource.depends_on = list(request.dependencies)
    outputs = {name: _resolve(value) for name, value in exports.items()}
    return Recording(stack=stack, resources=mocks.resources, calls=mocks.calls, outputs=outputs)


class _EngineUrns:
    """URNs as the Pulumi engine builds them (the mocks keep only the parent's last type, not the chain)."""

    def __init__(self, stack: str, requests: dict[tuple[str, str], Any]):
        self.prefix = f"urn:pulumi:{stack}::{PROJECT_NAME}::"
        self.qualified: dict[str, str] = {}  # the mocks' URN of a resource -> its engine-qualified type
        for request in requests.values():  # parents register before their children
            mock_urn = self._mock_urn(request.parent, request.type, request.name)
            self.qualified[mock_urn] = self._qualify(request.parent, request.type)

    def _mock_urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
        return f"{self.prefix}{type_}::{name}"

    def _qualify(self, parent: str, type_: str) -> str:
        parent_type = self.qualified.get(parent, "")
        if not parent or parent_type == "pulumi:pulumi:Stack":
            return type_
        return f"{parent_type}${type_}"

    def of(self, request: Any) -> str:
        return f"{self.prefix}{self._qualify(request.parent, request.type)}::{request.name}"

    def alias(self, request: Any, alias: Any) -> str:
        if alias.HasField("urn"):
            return str(alias.urn)
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        type_, name = spec.type or request.type, spec.name or request.name
        if parent and parent not in self.qualified:
            # a former parent that no longer exists: its engine URN already carries the whole type chain
            return f"{self.prefix}{parent.split('::')[2]}${type_}::{name}"
        return f"{self.prefix}{self._qualify(parent, type_)}::{name}"


def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        return _sync_await(value.future())
    return value


def main(argv: list[str]) -> int:
    """`python -m tests.infra.harness <stack>...`: the offline resource listing (no credentials needed)."""
    for stack in argv or stack_names():
        recording = run_program(stack)
        print(f"# stack {stack}: {len(recording.resources)} resources")
        for resource in recording.resources:
            print(f"{resource.type}  {resource.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
