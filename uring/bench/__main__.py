"""``python -m uring.bench NAME [options]``: run one benchmark.

``python -m uring.bench NAME --help`` lists that benchmark's options. Each
prints its table as it goes and writes its results under ``results/``.
"""

from __future__ import annotations

import importlib
import sys

from .. import _cli
from . import COMMANDS, SUMMARIES

__all__ = ["main"]


def _parser():
    parser = _cli.make_parser("python -m uring.bench", __doc__)
    sub = parser.add_subparsers(dest="name", metavar="NAME", title="benchmarks")
    for name in COMMANDS:
        # add_help=False: the benchmark's own parser answers NAME --help.
        sub.add_parser(name, help=SUMMARIES[name], add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Import ``uring.bench.<module>`` for the named benchmark and return its ``main(rest)``."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    if not argv or argv[0] not in COMMANDS and not argv[0].startswith("-"):
        parser.print_usage(sys.stderr)
        what = f"unknown benchmark {argv[0]!r}" if argv else "no benchmark named"
        print(f"{parser.prog}: error: {what} (choose from {', '.join(COMMANDS)})",
              file=sys.stderr)
        return 2
    # Only the first word is this parser's (--help, --version or a name);
    # the rest belongs to the benchmark.
    args = parser.parse_args(argv[:1])
    module_name = f"{__package__}.{COMMANDS[args.name]}"
    module = importlib.import_module(module_name)
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    _cli.run(main)
