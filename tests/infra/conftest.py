from __future__ import annotations

import pytest

from tests.infra.harness import Recording, run_program, stack_names

_cache: dict[str, Recording] = {}


def recording_of(stack: str) -> Recording:
    """Each stack file's program runs once per session; tests only read the recording."""
    if stack not in _cache:
        _cache[stack] = run_program(stack)
    return _cache[stack]


@pytest.fixture(params=stack_names())
def recording(request: pytest.FixtureRequest) -> Recording:
    return recording_of(request.param)
