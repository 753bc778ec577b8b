"""Fixtures for the echo server tests: every registered stage, run as a subprocess."""

from __future__ import annotations

import resource

import pytest

from echo_client import ServerProcess
from stage_info import STAGE_NAMES, stage_class


def pytest_configure(config) -> None:
    # A thousand client sockets in this process, as many in the server.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))


@pytest.fixture(params=STAGE_NAMES)
def stage(request) -> str:
    """Each registered stage in turn; skipped only where this kernel cannot run it."""
    reason = stage_class(request.param).unsupported()
    if reason:
        pytest.skip(f"stage {request.param}: {reason}")
    return request.param


@pytest.fixture
def start_server():
    """Start echo servers; any still running at the end is killed (the test failed)."""
    started: list[ServerProcess] = []

    def start(stage: str, *options: str, **kwargs) -> ServerProcess:
        reason = stage_class(stage).unsupported()
        if reason:
            pytest.skip(f"stage {stage}: {reason}")
        server = ServerProcess(stage, *options, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
