"""``python -m uring``: the command-line tools of ``uring``, one line each.

Each tool answers ``--help`` with its options and ``--version`` with the
package version.
"""

from __future__ import annotations

import importlib.util
import sys

from . import _cli

#: (module, what it does); a tool whose module is missing here is not listed.
TOOLS: tuple[tuple[str, str], ...] = (
    ("uring.probe", "what this kernel's io_uring supports: features, opcodes, setup flags"),
    ("uring.echo", "run an echo server stage (--list shows the stages)"),
    ("uring.bench", "benchmarks: nop, echo, packets, tcp-rx (--help says what each measures)"),
    ("uring.packet", "packet receive paths: list them, or run one end to end (root)"),
    ("uring.loop", "the io_uring asyncio event loop's demos"),
)


def _runnable(module: str) -> bool:
    """Whether ``python -m module`` runs something: a module, or a package with ``__main__``."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.submodule_search_locations is None:
            return spec is not None
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ImportError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Print the tools; ``--help`` and ``--version`` as every tool has them."""
    parser = _cli.make_parser("python -m uring", __doc__)
    parser.parse_args(argv)
    tools = [(f"python -m {module}", what) for module, what in TOOLS if _runnable(module)]
    width = max(len(cmd) for cmd, _ in tools)
    print("uring: io_uring from Python through ctypes, mmap and struct. Tools:\n")
    for cmd, what in tools:
        print(f"  {cmd:<{width}}  {what}")
    return 0


if __name__ == "__main__":
    _cli.run(main)
