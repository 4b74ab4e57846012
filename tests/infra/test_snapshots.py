"""Golden snapshots, reviewed in diffs: every stack's resource URNs and every IAM document it generates.

A change to either fails here until the snapshot is written again (`make snapshots`) and the diff is read
in review. A stateful resource whose URN changes without a `pulumi.Alias` would be replaced by Pulumi
(deleted and created anew, data gone): that fails even after the snapshot is rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infra.alarm_specs import spec_row, stack_alarm_specs
from infra.config_schema import load_stack_config
from infra.settings import settings_from_values
from tests.infra.harness import RecordedResource, Recording, _EngineUrns

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SNAPSHOT_UPDATE") == "1"
# Resources whose replacement loses data or history, whatever their protect flag says.
STATEFUL_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:dynamodb/table:Table",
        "aws:sqs/queue:Queue",
    }
)
POLICY_KEYS = ("policy", "assumeRolePolicy")


def stateful(resource: RecordedResource) -> bool:
    return resource.protect or resource.type in STATEFUL_TYPES


def urn_lines(recording: Recording) -> list[str]:
    return sorted(f"{r.urn}{'  stateful' if stateful(r) else ''}" for r in recording.resources)


def policy_documents(recording: Recording) -> dict[str, Any]:
    """Every IAM-style JSON document among the recorded inputs, by resource name and property."""
    documents: dict[str, Any] = {}
    for resource in recording.resources:
        for key in POLICY_KEYS:
            value = resource.inputs.get(key)
            if isinstance(value, str) and value.lstrip().startswith("{"):
                documents[f"{resource.name}.{key}"] = json.loads(value)
        for index, inline in enumerate(resource.inputs.get("inlinePolicies") or []):
            documents[f"{resource.name}.inlinePolicies[{index}]:{inline.get('name', '')}"] = json.loads(
                inline["policy"]
            )
    return dict(sorted(documents.items()))


def unaliased_moves(snapshot: list[str], recording: Recording) -> list[str]:
    """Stateful URNs of the snapshot that no current resource has, nor answers to through an alias."""
    current = {r.urn for r in recording.resources} | {a for r in recording.resources for a in r.aliases}
    gone = [line.split()[0] for line in snapshot if line.endswith("stateful")]
    return [urn for urn in gone if urn not in current]


def _compare(path: Path, actual: str) -> None:
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text()
    assert actual == expected, (
        f"{path.relative_to(SNAPSHOTS.parent.parent.parent)} differs from the program: review the change, "
        "then run `make snapshots` and commit the new snapshot with it"
    )


def test_resource_urns_match_the_snapshot(recording: Recording) -> None:
    path = SNAPSHOTS / "urns" / f"{recording.stack}.txt"
    snapshot = path.read_text().splitlines() if path.exists() else []
    moved = unaliased_moves(snapshot, recording)
    assert not moved, f"stateful resources would be replaced (add a pulumi.Alias to their old URN): {moved}"
    _compare(path, "\n".join(urn_lines(recording)) + "\n")


def test_iam_documents_match_the_snapshot(recording: Recording) -> None:
    _compare(
        SNAPSHOTS / "iam" / f"{recording.stack}.json",
        json.dumps(policy_documents(recording), indent=2) + "\n",
    )


def test_alarm_specs_match_the_snapshot(recording: Recording) -> None:
    """Every alarm of the stack, one readable row each (tests/infra/test_monitoring_stack.py checks that the
    recorded MetricAlarms are exactly these specs)."""
    config = load_stack_config(recording.stack)
    settings = settings_from_values(recording.stack, config.region, config.values)
    specs = stack_alarm_specs(
        settings, endpoint=recording.outputs.get("endpoint_name", ""), variant="primary"
    )
    _compare(SNAPSHOTS / "alarms" / f"{recording.stack}.txt", "".join(f"{spec_row(s)}\n" for s in specs))


def test_a_renamed_bucket_without_an_alias_is_caught(recording: Recording) -> None:
    bucket = next(r for r in recording.resources if r.type == "aws:s3/bucket:Bucket")
    old = f"{bucket.urn.rsplit('::', 1)[0]}::renamed-from-this"
    assert unaliased_moves([f"{old}  stateful"], recording) == [old]


def test_an_aliased_rename_is_accepted(recording: Recording) -> None:
    bucket = next(r for r in recording.resources if r.type == "aws:s3/bucket:Bucket")
    old = f"{bucket.urn.rsplit('::', 1)[0]}::renamed-from-this"
    bucket.aliases.append(old)
    try:
        assert unaliased_moves([f"{old}  stateful"], recording) == []
    finally:
        bucket.aliases.remove(old)


def test_stateless_moves_need_no_alias(recording: Recording) -> None:
    assert (
        unaliased_moves(["urn:pulumi:x::sagestack::aws:cloudwatch/metricAlarm:MetricAlarm::gone"], recording)
        == []
    )


def mock_urn(parent: str, type_: str, name: str) -> str:
    """The parent URN the mocks hand to children (pulumi.runtime.mocks.MockMonitor.make_urn)."""
    return _EngineUrns("dev", {})._mock_urn(parent, type_, name)


# pulumi/sdk/proto/alias.proto: an alias is a URN, or a spec whose empty fields mean "as the resource is".
def test_alias_specs_resolve_to_the_old_urn_with_the_whole_parent_chain() -> None:
    from pulumi.runtime.proto import alias_pb2, resource_pb2

    prefix = "urn:pulumi:dev::sagestack::"
    stack = resource_pb2.RegisterResourceRequest(type="pulumi:pulumi:Stack", name="sagestack-dev")
    stack_urn = mock_urn("", stack.type, stack.name)
    root = resource_pb2.RegisterResourceRequest(type="sagestack:stack:Sagestack", name="s", parent=stack_urn)
    root_urn = mock_urn(stack_urn, root.type, root.name)
    storage = resource_pb2.RegisterResourceRequest(
        type="sagestack:storage:Storage", name="storage", parent=root_urn
    )
    bucket = resource_pb2.RegisterResourceRequest(
        type="aws:s3/bucket:Bucket",
        name="storage-data",
        parent=mock_urn(root_urn, storage.type, storage.name),
        aliases=[
            alias_pb2.Alias(spec=alias_pb2.Alias.Spec(name="data")),
            alias_pb2.Alias(spec=alias_pb2.Alias.Spec(noParent=True)),
            alias_pb2.Alias(urn=f"{prefix}aws:s3/bucket:Bucket::legacy"),
        ],
    )
    urns = _EngineUrns("dev", {(r.type, r.name): r for r in (stack, root, storage, bucket)})
    chain = "sagestack:stack:Sagestack$sagestack:storage:Storage$aws:s3/bucket:Bucket"
    assert urns.of(bucket) == f"{prefix}{chain}::storage-data"
    assert [urns.alias(bucket, a) for a in bucket.aliases] == [
        f"{prefix}{chain}::data",
        f"{prefix}aws:s3/bucket:Bucket::storage-data",
        f"{prefix}aws:s3/bucket:Bucket::legacy",
    ]
