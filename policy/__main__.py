"""Entry point Pulumi runs for `--policy-pack policy`: serves every guardrail as a mandatory pack."""

# Pulumi runs this file with runpy.run_path(<pack dir>), which puts policy/ first on sys.path: the rules
# package is `guardrails` here and `policy.guardrails` everywhere else, never both in one process.
from guardrails.rules import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="sagestack-guardrails", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
