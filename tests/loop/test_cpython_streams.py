"""CPython's test_streams, every TestCase class, with uring.loop.EventLoopPolicy set."""

from cpython_suites import stdlib_module, twins

twins(globals(), stdlib_module("test_streams"))
