"""``python -m uring.bench <name> [options]``: run one benchmark.

``python -m uring.bench <name> --help`` lists that benchmark's options.
"""

from __future__ import annotations

import importlib
import sys

from . import COMMANDS

__all__ = ["main"]


def _usage() -> str:
    return ("usage: python -m uring.bench {" + ",".join(COMMANDS) + "} [options]\n"
            "       python -m uring.bench NAME --help   (options of one benchmark)")


def main(argv: list[str] | None = None) -> int:
    """Import ``uring.bench.<module>`` for the named benchmark and return its ``main(rest)``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown benchmark {name!r}\n{_usage()}", file=sys.stderr)
        return 2
    module_name = f"{__package__}.{COMMANDS[name]}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise   # the benchmark exists but something it imports does not
        print(f"benchmark {name!r} is not available: {module_name} does not exist",
              file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
