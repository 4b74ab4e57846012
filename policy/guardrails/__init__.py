"""sagestack's guardrails: the rules of the CrossGuard pack, one module per concern, registered in rules.py.

Pulumi loads this package as `guardrails` (policy/ is its script directory); the Pulumi program and the
tests load it as `policy.guardrails`. Modules here import each other relatively only, so each is loaded
under exactly one name in any process. Standard library and pulumi-policy only.
"""
