"""The sagestack Pulumi program: read and validate settings, build the stack, export what callers need."""

import dataclasses

import pulumi

from infra.settings import load_settings
from infra.stack import Sagestack

settings = load_settings()  # raises on invalid config before any resource is registered
stack = Sagestack(settings)
for field in dataclasses.fields(stack.outputs):
    value = getattr(stack.outputs, field.name)
    if value is not None:
        pulumi.export(field.name, value)
