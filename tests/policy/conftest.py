from __future__ import annotations

import pytest

from tests.infra.harness import Recording, run_program, stack_names


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    """Every stack file's program, run once under the recording mocks and shared by the policy tests."""
    return {stack: run_program(stack) for stack in stack_names()}
