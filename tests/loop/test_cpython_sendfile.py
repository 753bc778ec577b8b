"""CPython's test_sendfile (SendfileTestsBase) on uring.loop."""

from cpython_suites import stdlib_module, twins

twins(globals(), stdlib_module("test_sendfile"), ["EPollEventLoopTests"])
