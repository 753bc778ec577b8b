"""The Uring* twins of CPython's classes really run on uring.loop.EventLoop."""

import unittest

import pytest

import uring.loop
from cpython_suites import stdlib_module


@pytest.fixture
def created(monkeypatch):
    """Every EventLoop created while the test runs."""
    loops = []
    init = uring.loop.EventLoop.__init__

    def record(self, *args, **kwargs):
        loops.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(uring.loop.EventLoop, "__init__", record)
    return loops


def _run(cls, method):
    result = unittest.TestResult()
    cls(method).run(result)
    assert result.wasSuccessful(), result.failures + result.errors
    assert result.testsRun == 1 and not result.skipped


def test_loop_parameterised_class_uses_uring_loop(created):
    import test_cpython_events as m
    _run(m.UringEPollEventLoopTests, "test_run_until_complete")
    assert created
    created.clear()
    _run(m.DefaultEPollEventLoopTests, "test_run_until_complete")
    assert not created


def test_policy_class_uses_uring_loop(created):
    import test_cpython_streams as m
    _run(m.UringStreamTests, "test_open_connection")
    assert created


def test_isolated_async_testcase_uses_uring_loop(created):
    stdlib_module("test_timeouts")
    import test_cpython_timeouts as m
    _run(m.UringTimeoutTests, "test_timeout_basic")
    assert created
