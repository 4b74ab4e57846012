"""Tests of training/ (a package, so its conftest and helpers import under one name: tests.training.*)."""
