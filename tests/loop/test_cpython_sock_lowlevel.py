"""CPython's test_sock_lowlevel (BaseSockTestsMixin) on uring.loop."""

from cpython_suites import stdlib_module, twins

twins(globals(), stdlib_module("test_sock_lowlevel"), ["EPollEventLoopTests"])
