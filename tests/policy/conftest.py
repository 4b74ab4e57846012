from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from tests.infra.conftest import recording_of
from tests.infra.harness import Recording, stack_names


class _Recordings(Mapping[str, Recording]):
    """Each stack's recording, run on first use: a broken fork fails its own tests, not every stack's."""

    def __getitem__(self, stack: str) -> Recording:
        if stack not in stack_names():
            raise KeyError(stack)
        return recording_of(stack)

    def __iter__(self) -> Iterator[str]:
        return iter(stack_names())

    def __len__(self) -> int:
        return len(stack_names())


@pytest.fixture(scope="session")
def recordings() -> Mapping[str, Recording]:
    """Every stack file's program, run once under the recording mocks and shared by the policy tests."""
    return _Recordings()
