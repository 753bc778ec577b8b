"""CPython's test_events (EventLoopTestsMixin + SubprocessTestsMixin) on uring.loop."""

from cpython_suites import stdlib_module, twins

twins(globals(), stdlib_module("test_events"), ["EPollEventLoopTests"])
