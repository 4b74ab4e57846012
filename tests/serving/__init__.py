"""Tests of serving/ (a package, so its conftest and helpers import under one name: tests.serving.*)."""
