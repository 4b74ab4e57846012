"""Entry point Pulumi runs for `--policy-pack policy`: serves every rule in rules.py as a mandatory pack."""

from pulumi_policy import EnforcementLevel, PolicyPack

# Pulumi runs this file with policy/ as the script directory, so rules.py is a top-level module here.
from rules import POLICIES

PolicyPack(name="sagestack-guardrails", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
