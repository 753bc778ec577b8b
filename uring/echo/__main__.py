"""``python -m uring.echo --stage NAME``: run an echo server stage (``--list`` shows them).

Echo servers retelling io_uring's history one stage at a time. The server
prints ``listening on HOST:PORT`` once it accepts (talk to it with
``nc 127.0.0.1 6666``) and echoes every byte back until Ctrl-C or SIGTERM;
then it prints one ``summary:`` line of ``key=value`` counts.

The values are checked here, before anything opens: a port out of range, a
host that does not resolve or a buffer count of 0 is one ``error:`` line
with usage, exit status 2; a port already in use is one line, exit status 1.
"""

from __future__ import annotations

import argparse
import errno
import sys

from .. import _cli
from . import common, registry

EPILOG = """\
python -m uring.echo --stage NAME --help lists that stage's own options too
(--entries, --buffers, --buffer-size, ...); --list shows the stages."""

#: The accepted range of each integer option (a stage's own included), by dest.
RANGES: dict[str, tuple[int, int | None]] = {
    "port": (0, 65535),
    "workers": (1, 1024),
    "listen_backlog": (0, None),
    "entries": (1, 32768),           # IORING_MAX_ENTRIES
    "buffers": (1, 32768),           # a buffer ring holds at most 32768
    "buffer_size": (1, 2**32 - 1),   # a buffer's length is a __u32
    "max_unsent": (1, None),
    "zc_threshold": (0, None),
    "files": (0, None),
    "sq_thread_idle": (0, 2**32 - 1),
}

# A bind(2) failure the user can act on; anything else is reported as it is.
_LISTEN_ERRORS = {errno.EADDRINUSE: "the port is in use (another server? --port 0 picks a free one)",
                  errno.EADDRNOTAVAIL: "no interface of this machine has that address",
                  errno.EACCES: "ports below 1024 need root"}


def build_parser(argv: list[str] | None) -> argparse.ArgumentParser:
    """:func:`uring.echo.common.build_parser` plus the stage's own options and checked values.

    ``argv`` is looked at for ``--stage`` so that ``--stage NAME --help``
    lists that stage's options; an unknown stage name is a usage error.
    """
    parser = common.build_parser()
    parser.description = _cli.plain(__doc__)
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    _cli.add_version(parser)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--stage")
    pre.add_argument("--list", action="store_true")
    first, _ = pre.parse_known_args(argv)
    if first.stage is not None and not first.list:
        try:
            stage = registry.find(first.stage)
        except KeyError as e:
            parser.error(f"argument --stage: {e.args[0]}")
        group = parser.add_argument_group(f"options of stage {stage.name}")
        for option in stage.load().OPTIONS:
            flag, kwargs = common.OPTIONS[option]
            group.add_argument(flag, dest=option, **kwargs)
    for action in parser._actions:
        if action.dest in RANGES:
            action.type = _cli.int_range(*RANGES[action.dest])
        elif action.dest == "host":
            action.type = _cli.host
    return parser


def main(argv: list[str] | None = None) -> int:
    """Check the command line, then run :func:`uring.echo.common.main` with it."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.list and args.stage is None:
        parser.error("--stage is required (--list shows the stages)")
    try:
        return common.main(argv)
    except BrokenPipeError:
        raise   # stdout's reader went away: _cli.run ends quietly
    except OSError as e:
        why = (f"cannot listen on {args.host}:{args.port}: {_LISTEN_ERRORS[e.errno]}"
               if e.errno in _LISTEN_ERRORS else e.strerror or str(e))
        print(f"{parser.prog}: error: {why}", file=sys.stderr)
        return 1
    except (ValueError, OverflowError) as e:
        # A limit the library knows and RANGES does not: still one line.
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    _cli.run(main)
