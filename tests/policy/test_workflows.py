"""The GitHub Actions workflows: actionlint passes them and fails a broken one; their shape matches the stacks."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import settings_of_stack_file, update_seconds_upper_bound
from tests.infra.harness import stack_names

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ["bash", str(ROOT / "tools" / "actionlint.sh")]


def _load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _jobs() -> dict[str, dict[str, Any]]:
    return {
        f"{w.name}:{name}": job
        for w in WORKFLOWS.glob("*.yml")
        for name, job in _load(w.name)["jobs"].items()
    }


def _step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if str(s.get("uses", "")).startswith(uses))


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


# --- the stack matrix comes from the Pulumi.<stack>.yaml files ----------------------------------------


def test_the_preview_matrix_is_derived_from_the_stack_files() -> None:
    jobs = _load("pull-request.yml")["jobs"]
    preview = jobs["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.test.outputs.stacks) }}"
    assert jobs["test"]["outputs"]["stacks"] == "${{ steps.stacks.outputs.stacks }}"
    step = next(s for s in jobs["test"]["steps"] if s.get("id") == "stacks")
    assert "-m tools.stack_matrix" in step["run"] and "$GITHUB_OUTPUT" in step["run"]
    listed = subprocess.run(
        [sys.executable, "-m", "tools.stack_matrix"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert yaml.safe_load(listed.stdout) == stack_names()


def test_previews_use_the_policy_pack_with_the_stacks_own_pack_config() -> None:
    for workflow, job in (("pull-request.yml", "preview"), ("deploy-stack.yml", "diff")):
        run = next(
            s["run"] for s in _load(workflow)["jobs"][job]["steps"] if "pulumi preview" in s.get("run", "")
        )
        assert '--stack "$STACK"' in run and "--diff" in run
        assert '--policy-pack policy --policy-pack-config "policy/config/$STACK.json"' in run
    up = _step(_load("deploy-stack.yml")["jobs"]["up"], "pulumi/actions@")
    assert up["with"]["policyPacks"] == "policy"
    assert up["with"]["policyPackConfigs"] == "policy/config/${{ inputs.stack }}.json"


# --- concurrency: previews never block or cancel a deploy -------------------------------------------


def test_previews_and_deploys_never_share_a_concurrency_group() -> None:
    # GitHub keeps one running and one pending job per group; a newer pending job cancels the older one
    # (docs.github.com "Control the concurrency of workflows and jobs"). So previews get groups of their own.
    preview = _load("pull-request.yml")["jobs"]["preview"]["concurrency"]
    assert preview["group"] == "preview-${{ matrix.stack }}-pr-${{ github.event.pull_request.number }}"
    assert preview["cancel-in-progress"] is True  # a newer push to the PR replaces its own old preview
    up = _load("deploy-stack.yml")["jobs"]["up"]["concurrency"]
    assert up == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    groups = {name: job.get("concurrency", {}).get("group", "") for name, job in _jobs().items()}
    deploy_groups = {g for g in groups.values() if g.startswith("deploy-")}
    assert all(not g.startswith("deploy-") for n, g in groups.items() if n.startswith("pull-request"))
    assert deploy_groups == {"deploy-${{ inputs.stack }}"}


# --- failed previews are reported, forks get what needs no credentials ------------------------------


def test_a_preview_posts_its_comment_whether_it_passed_or_failed() -> None:
    jobs = _load("pull-request.yml")["jobs"]
    preview = jobs["preview"]
    # It runs even when a test failed (a config error fails both), once the matrix is known.
    assert preview["if"].startswith("always() && needs.test.outputs.stacks != ''")
    names = [s.get("id") or s.get("run", "") for s in jobs["test"]["steps"]]
    assert names.index("stacks") < names.index("make test")
    post = preview["steps"][-1]
    assert post["if"] == "always()"
    assert post["env"]["OUTCOME"] == "${{ steps.preview.outcome }}"
    assert "tools/preview_comment.py" in post["run"] and "gh pr comment" in post["run"]
    assert preview["permissions"]["pull-requests"] == "write"
    assert any(s.get("id") == "preview" and "set -o pipefail" in s["run"] for s in preview["steps"])


def test_the_comment_of_a_failed_preview_says_why(tmp_path: Path) -> None:
    log = tmp_path / "preview.txt"
    log.write_text(
        "Previewing update (prod)\n  pulumi:pulumi:Stack sagestack-prod  running\n"
        "error: invalid stack config:\n  - unknown config key 'sagestack:endpointInstanceCont'\n"
        "Policy Violations:\n    [mandatory]  sagestack-policy v1  s3-bucket-versioning\n"
    )
    tool = [sys.executable, str(ROOT / "tools" / "preview_comment.py"), "--stack", "prod", "--log", str(log)]
    failed = subprocess.run(
        [*tool, "--outcome", "failure"], capture_output=True, text=True, check=True
    ).stdout
    assert failed.startswith("### Pulumi preview of `prod`: FAILED (failure)")
    why = failed.split("**Why:**")[1].split("<details>")[0]
    assert "unknown config key 'sagestack:endpointInstanceCont'" in why and "[mandatory]" in why
    passed = subprocess.run(
        [*tool, "--outcome", "success"], capture_output=True, text=True, check=True
    ).stdout
    assert "succeeded" in passed and "**Why:**" not in passed
    log.unlink()
    skipped = subprocess.run(
        [*tool, "--outcome", "skipped"], capture_output=True, text=True, check=True
    ).stdout
    assert "not run" in skipped and "credentials" in skipped


def test_fork_pull_requests_run_what_needs_no_credentials_and_say_so() -> None:
    jobs = _load("pull-request.yml")["jobs"]
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["preview"]["if"].endswith(same_repo)
    assert jobs["fork-notice"]["if"] == same_repo.replace("==", "!=")
    assert "needs a maintainer" in jobs["fork-notice"]["steps"][0]["run"]
    test = jobs["test"]
    assert "if" not in test and "permissions" not in test  # runs for forks, with the read-only token
    assert "secrets." not in yaml.safe_dump(test)
    runs = " ".join(s.get("run", "") for s in test["steps"])
    for command in ("make lint", "make test", "python -m tests.infra.harness"):
        assert command in runs


# --- credentials, environments, timeouts, versions -------------------------------------------------


def test_every_job_that_touches_a_stack_assumes_a_role_through_oidc() -> None:
    for workflow, job in (
        ("pull-request.yml", "preview"),
        ("deploy-stack.yml", "diff"),
        ("deploy-stack.yml", "up"),
    ):
        definition = _load(workflow)["jobs"][job]
        assert definition["permissions"]["id-token"] == "write", workflow
        credentials = _step(definition, "aws-actions/configure-aws-credentials@")
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


def test_reviewers_see_the_diff_before_they_approve_the_deploy() -> None:
    jobs = _load("deploy-stack.yml")["jobs"]
    assert jobs["up"]["needs"] == "diff"
    assert "environment" not in jobs["diff"]  # runs before the approval, not behind it
    show = jobs["diff"]["steps"][-1]["run"]
    assert "pulumi preview" in show and "--diff" in show and "$GITHUB_STEP_SUMMARY" in show


def test_verify_runs_in_the_stacks_own_region() -> None:
    verify = next(
        s
        for s in _load("deploy-stack.yml")["jobs"]["up"]["steps"]
        if s.get("name") == "Verify the deployed endpoint"
    )
    run = verify["run"]
    assert "serving/verify.py" in run
    for output in ("region", "endpoint_name", "endpoint_config_name"):
        assert f'pulumi stack output {output} --stack "$STACK"' in run
    assert '--region "$(pulumi stack output region' in run
    readme = (ROOT / "README.md").read_text()
    assert '--region "$(pulumi stack output region)"' in readme


GITHUB_HOSTED_JOB_LIMIT_MINUTES = 360  # docs.github.com "Usage limits": a job may run up to 6 hours
SETUP_AND_VERIFY_SECONDS = 30 * 60  # checkout, virtualenv, provider plugins, preview part of up, verify


def _deployed_stacks() -> list[str]:
    return [job["with"]["stack"] for job in _load("deploy.yml")["jobs"].values()]


@pytest.mark.parametrize("stack", _deployed_stacks())
def test_the_deploy_timeout_covers_the_stacks_worst_case(stack: str) -> None:
    timeout_minutes = _load("deploy-stack.yml")["jobs"]["up"]["timeout-minutes"]
    assert timeout_minutes <= GITHUB_HOSTED_JOB_LIMIT_MINUTES
    worst = update_seconds_upper_bound(settings_of_stack_file(stack)) + SETUP_AND_VERIFY_SECONDS
    assert worst <= timeout_minutes * 60, (
        f"{stack}: up to {worst / 60:.0f} min, job stops at {timeout_minutes}"
    )


def test_prods_worst_case_exceeds_the_old_two_hour_timeout() -> None:
    """The check above is not vacuous: prod trains for up to an hour, then deploys for up to 5,400 s."""
    prod = settings_of_stack_file("prod")
    assert prod.serving.deployment_timeout_seconds == 5_400
    assert prod.training.max_runtime_seconds == 3_600 and not prod.training.spot
    assert update_seconds_upper_bound(prod) >= 3_600 + 5_400
    assert update_seconds_upper_bound(prod) + SETUP_AND_VERIFY_SECONDS > 120 * 60


def test_the_pulumi_cli_ci_installs_is_the_sdk_version() -> None:
    pinned = re.search(r"^pulumi==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned
    steps = [
        s for job in _jobs().values() for s in job.get("steps", []) if "pulumi/actions@" in str(s.get("uses"))
    ]
    assert len(steps) == 3
    assert {str(s["with"]["pulumi-version"]) for s in steps} == {pinned.group(1)}


def test_every_job_that_sets_up_the_virtualenv_caches_uv() -> None:
    for name, job in _jobs().items():
        runs = " ".join(s.get("run", "") for s in job.get("steps", []))
        if "make setup" in runs:
            cache = _step(job, "actions/cache@")
            assert cache["with"]["path"] == "~/.cache/uv", name
            assert "hashFiles('requirements.txt')" in cache["with"]["key"], name


# --- the README's operator path --------------------------------------------------------------------


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_readme_deploy_bootstraps_first_and_runs_the_pack_with_the_stacks_own_config() -> None:
    deploy = _section("Deploy")
    assert deploy.index("pulumi stack init") < deploy.index("sagestack:deployModel false")
    assert deploy.index("sagestack:deployModel false") < deploy.index("The steady state")
    commands = [line for line in deploy.splitlines() if re.match(r"^pulumi (up|preview)\b", line)]
    assert len(commands) >= 5
    for command in commands:
        assert '--policy-pack policy --policy-pack-config "policy/config/$STACK.json"' in command, command
    assert "policy/config/dev.json" not in deploy


def test_readme_prerequisites_match_the_project() -> None:
    prerequisites = _section("Prerequisites")
    requires = re.search(r'requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert requires and f"Python ≥ {requires.group(1)}" in prerequisites
    assert "AWS CLI" in prerequisites and "source .venv/bin/activate" in prerequisites
    pinned = re.search(r"^pulumi==([\d.]+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned and f"--version {pinned.group(1)}" in prerequisites


def test_readme_states_the_fork_rules_settings_enforce() -> None:
    from infra.stack_names import longest_region, max_base_name

    forking = _section("Stacks and forking")
    assert f"`<namePrefix>-<stack>` has at most {max_base_name()} characters" in forking
    assert f"stack name has at most {max_base_name() - len('sagestack') - 1}" in forking
    assert f"(`{longest_region()}`) has {len(longest_region())}" in forking


# --- Makefile ---------------------------------------------------------------------------------------


def _make_dry_run(tmp_path: Path, target: str) -> list[str]:
    """What `make <target>` would run in a fresh clone (no .venv yet)."""
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "requirements-container.txt").write_text("")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "actionlint-requirements.txt").write_text("")
    result = subprocess.run(["make", "-n", target], capture_output=True, text=True, cwd=tmp_path, check=True)
    return result.stdout.splitlines()


def test_make_lock_installs_uv_first_on_a_fresh_clone(tmp_path: Path) -> None:
    lines = _make_dry_run(tmp_path, "lock")
    venv = next(i for i, line in enumerate(lines) if "python3 -m venv" in line)
    uv = next(i for i, line in enumerate(lines) if "pip install" in line and "uv==" in line)
    compile_ = next(i for i, line in enumerate(lines) if "uv pip compile" in line)
    assert venv < uv < compile_


def test_make_setup_says_what_it_is_doing(tmp_path: Path) -> None:
    lines = _make_dry_run(tmp_path, "setup")
    assert sum(line.startswith('echo "==>') for line in lines) >= 3
    install = next(line for line in lines if "uv pip install" in line)
    assert "--quiet" not in install  # uv's own progress (resolving, downloading, installing) shows
    # Both virtualenvs carry their bytecode (PYTHONDONTWRITEBYTECODE=1 here would otherwise make every
    # process compile its imports from source); `uv pip install --help`: "Compile Python files to bytecode".
    installs = [line for line in lines if "uv pip install" in line and " -r " in line]
    assert len(installs) == 2 and all("--compile-bytecode" in line for line in installs), installs
    # issue 15: actionlint comes with the set-up, so `make lint` never installs or skips it
    assert any("tools/actionlint.sh --install" in line for line in lines)


def test_make_test_runs_a_worker_per_core_with_bytecode_cached(tmp_path: Path) -> None:
    (command,) = [line for line in _make_dry_run(tmp_path, "test") if "-m pytest" in line]
    # pytest-xdist docs: `-n auto` starts one worker per CPU; `--dist loadfile` sends a file's tests to one worker.
    assert "-n auto --dist loadfile" in command
    # python docs, PYTHONDONTWRITEBYTECODE: "If this is set to a non-empty string, Python won't try to write .pyc"
    assert command.startswith("env -u PYTHONDONTWRITEBYTECODE ")


def test_every_stack_output_a_workflow_reads_is_exported() -> None:
    from infra.stack import StackOutputs

    exported = {field.name for field in dataclasses.fields(StackOutputs)}
    for workflow in WORKFLOWS.glob("*.yml"):
        for name in re.findall(r"pulumi stack output (\w+)", workflow.read_text()):
            assert name in exported, f"{workflow.name} reads stack output {name!r}, which is not exported"
