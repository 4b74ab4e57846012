"""Reading a stack's settings (infra/settings.py): storage, names, regions, the error, and what the program reads."""

from __future__ import annotations
