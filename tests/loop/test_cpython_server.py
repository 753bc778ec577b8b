"""CPython's test_server (BaseStartServer and the module's other server tests) on uring.loop."""

from cpython_suites import stdlib_module, twins

_module = stdlib_module("test_server")
twins(globals(), _module, [n for n in ("SelectorStartServerTests", "TestServer2",
                                       "UnixServerCleanupTests") if hasattr(_module, n)])
