"""The rules per area (infra/settings_rules.py): every bound on both sides, every message word for word."""

from __future__ import annotations
