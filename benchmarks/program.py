"""What every CI preview pays before any cloud call: evaluating the whole program, per stack.

Each measurement runs in a fresh interpreter (imports included, as in a real `pulumi preview`) and is
printed as a ratio to a bare `import pulumi_aws` measured the same way in the same run. Target: <= 3x.

`import pulumi_aws` is lazy: the provider's modules load on first use, and loading the ones this program
uses (their thousands of generated input classes) is a floor no program using them can go below; it is
measured too, so the program's own share is visible.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 5
TARGET = 3.0
PROVIDER_MODULES_USED = (
    "import pulumi_aws as aws; aws.get_caller_identity; aws.s3.Bucket; aws.kms.Key; aws.iam.Role; "
    "aws.sagemaker.TrainingJob; aws.cloudwatch.MetricAlarm; aws.lambda_.Function; aws.sns.Topic; "
    "aws.appautoscaling.Target"
)


def timed(code: str) -> float:
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from infra.config_schema import stack_names

    baseline = timed("import pulumi_aws")
    floor = timed(PROVIDER_MODULES_USED)
    print(f"baseline: import pulumi_aws  {baseline:6.2f} s (median of {REPEATS} fresh interpreters)")
    print(f"floor: the provider modules the program uses  {floor:6.2f} s = {floor / baseline:.2f}x baseline")
    print(f"{'stack':<10} {'seconds':>8} {'ratio':>6}  {'vs floor':>8}  target <= {TARGET:.0f}x")
    worst = 0.0
    for stack in stack_names():
        seconds = timed(f"from tests.infra.harness import run_program; run_program({stack!r})")
        ratio = seconds / baseline
        worst = max(worst, ratio)
        verdict = "ok" if ratio <= TARGET else "OVER TARGET"
        print(f"{stack:<10} {seconds:8.2f} {ratio:5.2f}x {seconds / floor:8.2f}x  {verdict}")
    print(f"worst ratio {worst:.2f}x")


if __name__ == "__main__":
    main()
