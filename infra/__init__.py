"""The Pulumi program: one module per concern, wired together in stack.py."""
