"""The local rehearsal: train -> serve -> capture -> drift on moto, with the stack's own settings and code."""

from rehearsal.run import RehearsalError, run_rehearsal

__all__ = ["RehearsalError", "run_rehearsal"]
