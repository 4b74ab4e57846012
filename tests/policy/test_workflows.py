"""The GitHub Actions workflows: actionlint passes them and fails a broken one; their shape matches the stacks."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.harness import stack_names

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ["bash", str(ROOT / "tools" / "actionlint.sh")]


def _load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    installed = subprocess.run([*ACTIONLINT, "-version"], capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(
            f"actionlint is not installed and tools/actionlint.sh could not install it: {installed.stderr}"
        )
    return ACTIONLINT


def test_actionlint_passes_the_workflows(actionlint: list[str]) -> None:
    result = subprocess.run(actionlint, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN_WORKFLOWS = {
    "misspelt steps key": (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    step:\n      - run: echo hi\n",
        '"steps" section is missing',
    ),
    "undefined matrix value": (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ matrix.stack }}\n",
        'property "stack" is not defined',
    ),
    "unknown input of a known action": (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n        with:\n          fetch-deepth: 1\n",
        "fetch-deepth",
    ),
}


@pytest.mark.parametrize("case", BROKEN_WORKFLOWS)
def test_actionlint_fails_a_broken_workflow(case: str, actionlint: list[str], tmp_path: Path) -> None:
    text, expected = BROKEN_WORKFLOWS[case]
    workflow = tmp_path / "broken.yml"
    workflow.write_text(text)
    result = subprocess.run([*actionlint, str(workflow)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout


def test_the_preview_matrix_covers_every_stack_with_its_pack_config() -> None:
    preview = _load("pull-request.yml")["jobs"]["preview"]
    assert sorted(preview["strategy"]["matrix"]["stack"]) == stack_names()
    assert preview["needs"] == "test"
    pulumi = next(s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"
    for stack in stack_names():
        assert (ROOT / "policy" / "config" / f"{stack}.json").is_file()


def test_every_stack_update_holds_its_stack_lock_and_assumes_a_role_through_oidc() -> None:
    for workflow, job in (("pull-request.yml", "preview"), ("deploy-stack.yml", "up")):
        definition = _load(workflow)["jobs"][job]
        assert definition["concurrency"]["group"].startswith("pulumi-${{"), workflow
        assert definition["concurrency"]["cancel-in-progress"] is False, workflow
        assert definition["permissions"]["id-token"] == "write", workflow
        credentials = next(
            s
            for s in definition["steps"]
            if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
        )
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert "aws-access-key-id" not in credentials["with"], "no long-lived keys"
        assert "PULUMI_BACKEND_URL" in definition["env"], workflow


def test_deploy_promotes_dev_then_staging_then_prod_behind_environments() -> None:
    deploy = _load("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True
    jobs = deploy["jobs"]
    assert [jobs[j]["with"]["stack"] for j in ("dev", "staging", "prod")] == ["dev", "staging", "prod"]
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert {jobs[j]["with"]["environment"] for j in ("staging", "prod")} == {"staging", "prod"}
    up = _load("deploy-stack.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.environment }}"
    runs = [str(step.get("run", "")) for step in up["steps"]]
    verify = next(i for i, run in enumerate(runs) if "serving/verify.py" in run)
    assert "pulumi stack output endpoint_name" in runs[verify]
    assert "pulumi stack output endpoint_config_name" in runs[verify]
    # Retained models and configurations are deleted only after the deployment was verified.
    clean_up = next(i for i, run in enumerate(runs) if "-m infra.rollout" in run)
    assert clean_up > verify
    assert "stack=$STACK" in runs[clean_up]


def test_every_stack_output_a_workflow_reads_is_exported() -> None:
    from infra.stack import StackOutputs

    exported = {field.name for field in dataclasses.fields(StackOutputs)}
    for workflow in WORKFLOWS.glob("*.yml"):
        for name in re.findall(r"pulumi stack output (\w+)", workflow.read_text()):
            assert name in exported, f"{workflow.name} reads stack output {name!r}, which is not exported"
