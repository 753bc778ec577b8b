"""CPython's test_tasks, every TestCase class, with uring.loop.EventLoopPolicy set.

The eight ``*Task*_*Future*`` classes are BaseTaskTests over each C/Python
Task and Future pair; most of their tests run on ``test_utils.TestLoop`` (a
mock loop) and only those calling ``asyncio.new_event_loop()`` reach ours.
"""

from cpython_suites import stdlib_module, twins

_module = stdlib_module("test_tasks")
_TASK_CLASSES = [n for n in vars(_module) if n.endswith(("_Tests", "_SubclassTests"))
                 and "Task" in n and n != "CTask_CFuture_Tests"]
# gc.collect() a hundred times over pytest's whole heap: ~25 s per class. The
# test runs on test_utils.TestLoop, never on a real loop, so one class keeps it.
_GC = ("runs on test_utils.TestLoop (no real loop) and costs ~25 s of gc.collect()"
       " under pytest; CTask_CFuture_Tests keeps it")
twins(globals(), _module,
      trim={f"{n}.test_task_del_collect": _GC for n in _TASK_CLASSES
            if hasattr(getattr(_module, n), "test_task_del_collect")})
