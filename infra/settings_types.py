"""The typed settings: frozen dataclasses of every value the stack needs, already validated.

`infra/settings.py` builds them from config (with the rules in `infra/settings_rules.py`); components
receive only the part they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# A blue/green deployment's MaximumExecutionTimeoutInSeconds: SageMaker's minimum, and the stack's own cap (SageMaker
# takes up to 28,800 s, but a rollout of that length and its rollback do not fit the 6-hour deploy job; decisions.md).
MIN_DEPLOYMENT_SECONDS, MAX_DEPLOYMENT_SECONDS = 600, 14_400
PROVISIONING_SECONDS = 900  # a new fleet's instances take minutes to come up before traffic moves


@dataclass(frozen=True)
class StorageSettings:
    protect: bool
    force_destroy: bool
    kms_deletion_window_days: int
    noncurrent_version_retention_days: int
    capture_retention_days: int


@dataclass(frozen=True)
class Hyperparameters:
    estimator: str
    n_estimators: int
    max_depth: int
    learning_rate: float
    regularization_c: float
    min_samples_leaf: int
    random_seed: int


@dataclass(frozen=True)
class TrainingSettings:
    framework_version: str
    data_prefix: str
    data_version: str
    instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    spot: bool
    spot_max_wait_seconds: int
    network_isolation: bool
    hyperparameters: Hyperparameters
    min_roc_auc: float
    run: int

    @property
    def data_key_prefix(self) -> str:
        return f"{self.data_prefix}/{self.data_version}"


@dataclass(frozen=True)
class ServerlessSettings:
    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class DeploymentSettings:
    strategy: Literal["all-at-once", "canary", "linear"]
    canary_instances: int
    linear_step_instances: int
    traffic_wait_seconds: int
    termination_wait_seconds: int


def deployment_seconds_needed(d: DeploymentSettings, instance_count: int) -> int:
    if d.strategy == "linear":
        # A step below 1 is already a reported problem; read as 1 so the check never divides by zero.
        steps = -(-instance_count // max(1, d.linear_step_instances))
    else:
        steps = {"all-at-once": 1, "canary": 2}[d.strategy]
    return PROVISIONING_SECONDS + steps * d.traffic_wait_seconds + d.termination_wait_seconds


@dataclass(frozen=True)
class AutoscalingSettings:
    min_instances: int
    max_instances: int
    target_invocations_per_instance: int


@dataclass(frozen=True)
class PackageArtifacts:
    """Where a pinned package from another stack keeps its model: that stack's artifacts bucket and key.

    The roles that load the model get read on the bucket's `models/` prefix and decrypt on the key via S3.
    """

    bucket: str
    key_arn: str


@dataclass(frozen=True)
class ServingSettings:
    instance_type: str
    instance_count: int
    serverless: ServerlessSettings | None
    network_isolation: bool
    approved_model_package_arn: str | None
    capture_sampling_percent: int
    deployment: DeploymentSettings
    autoscaling: AutoscalingSettings | None
    package_artifacts: PackageArtifacts | None = None  # set when the pin comes from another stack

    @property
    def captures(self) -> bool:
        return self.capture_sampling_percent > 0

    @property
    def deployment_timeout_seconds(self) -> int:
        """Room for provisioning, every traffic step's baking time and the final wait (at least SageMaker's 600)."""
        return max(MIN_DEPLOYMENT_SECONDS, deployment_seconds_needed(self.deployment, self.instance_count))


@dataclass(frozen=True)
class AlarmThresholds:
    drift_psi: float
    prediction_drift_psi: float
    latency_p99_ms: int
    errors_5xx_per_minute: int
    errors_4xx_per_5_minutes: int
    no_invocations_minutes: int


@dataclass(frozen=True)
class MonitoringSettings:
    engine: Literal["lambda"] | None  # None: nothing is captured, so nothing to watch
    schedule_minutes: int
    thresholds: AlarmThresholds
    alarm_emails: tuple[str, ...]
    retrain_cooldown_minutes: int


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    region: str
    name_prefix: str
    owner: str
    cost_centre: str
    permissions_boundary_arn: str | None
    log_retention_days: int
    deploy_model: bool
    storage: StorageSettings
    training: TrainingSettings
    serving: ServingSettings
    monitoring: MonitoringSettings
    # Accounts whose stacks may serve this stack's registered models (read-only grants; infra/iam_sharing.py).
    model_consumer_accounts: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()  # aws:allowedAccountIds: the provider refuses other accounts

    @property
    def base_name(self) -> str:
        """Start of every physical name: carries the stack, so two stacks in one account never collide."""
        return f"{self.name_prefix}-{self.stack}"

    @property
    def default_tags(self) -> dict[str, str]:
        return {
            "project": self.project,
            "stack": self.stack,
            "owner": self.owner,
            "cost-centre": self.cost_centre,
        }
