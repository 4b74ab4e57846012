"""Tests of monitoring/ (a package, so its conftest and helpers import under one name: tests.monitoring.*)."""
