"""What every command-line tool of ``uring`` shares: help text, ``--version``, errors, pipes.

The tools (``python -m uring``, ``uring.probe``, ``uring.echo``,
``uring.bench``, ``uring.packet``) all answer the same way:

* ``--help`` shows the module docstring as plain text (:func:`plain` strips
  the reST markup written for the Sphinx pages);
* ``--version`` prints :data:`uring.__version__`, the one place the version is
  written (``pyproject.toml`` reads it from there);
* a bad value is one ``error:`` line naming the value and what is accepted,
  after argparse's usage line, exit status 2 (argparse's own contract); a
  failure at run time (a busy port) is one line too, exit status 1;
* output cut short by its reader (``| head``) ends quietly (:func:`run`).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
from typing import Callable, NoReturn

__all__ = ["plain", "make_parser", "add_version", "int_range", "int_list", "number", "port", "host", "run"]

# reST roles (:mod:`x`, :func:`~a.b`, :class:`text <target>`), literals, emphasis.
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])")
_INTERPRETED = re.compile(r"`([^`]+?)`_{0,2}")


def plain(doc: str) -> str:
    """``doc`` (a module docstring) with its reST markup stripped, for ``--help``.

    Roles keep their text (``:func:`~uring.ring.Ring``` becomes ``Ring``),
    literals and emphasis lose their quotes and stars, and a paragraph ending in
    ``::`` (a literal block follows) ends in ``:``.
    """
    def role(m: re.Match) -> str:
        text = m.group(1).strip()
        return text.rsplit(".", 1)[-1] if m.group(0).split("`", 1)[1].startswith("~") \
            else text

    out = []
    for line in doc.strip("\n").splitlines():
        if line.strip() == "::":
            continue
        line = _ROLE.sub(role, line)
        line = _LITERAL.sub(r"\1", line)
        line = _STRONG.sub(r"\1", line)
        line = _EMPHASIS.sub(r"\1", line)
        line = _INTERPRETED.sub(r"\1", line)
        if line.endswith("::"):
            line = line[:-1]
        out.append(line)
    return "\n".join(out)


def add_version(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` a ``--version`` option printing the package version."""
    from . import __version__   # here: uring/__init__ may still be importing this module
    parser.add_argument("--version", action="version", version=f"uring {__version__}")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose writes may fail.

    Python 3.11.7 and later ignore ``OSError`` when argparse prints help or
    usage, so ``--help | head -0`` would exit 0 with its output lost and
    :func:`run` could not tell; here the ``BrokenPipeError`` reaches it.
    """

    def _print_message(self, message: str, file=None) -> None:
        if message:
            (file or sys.stderr).write(message)


def make_parser(prog: str, doc: str | None, **kwargs) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` for ``prog`` whose help shows ``doc`` as plain text, with ``--version``."""
    parser = Parser(prog=prog, description=plain(doc or ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     **kwargs)
    add_version(parser)
    return parser


def int_range(lo: int, hi: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse ``type`` accepting integers in ``lo..hi`` (no upper bound if ``hi`` is None).

    The error names the value and the accepted range, e.g. ``invalid value
    '0' (expected an integer from 1 to 32768)``.
    """
    bounds = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
    expected = f"expected {what or 'an integer'} {bounds}"

    def convert(text: str) -> int:
        """``text`` as an integer in range, or ``ArgumentTypeError`` naming it."""
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} ({expected})") from None
        if value < lo or hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} ({expected})")
        return value

    convert.__name__ = "integer"
    return convert


def int_list(lo: int, hi: int | None = None, what: str = "") -> Callable[[str], tuple[int, ...]]:
    """An argparse ``type`` for comma-separated integers, each in ``lo..hi``."""
    one = int_range(lo, hi, what)
    expected = f"expected comma-separated {what or 'integers'} " + (
        f"from {lo} to {hi}" if hi is not None else f"of at least {lo}")

    def convert(text: str) -> tuple[int, ...]:
        """``text`` as integers in range, or ``ArgumentTypeError`` naming it."""
        try:
            values = tuple(one(x.strip()) for x in text.split(",") if x.strip())
        except argparse.ArgumentTypeError:
            values = ()
        if not values:
            raise argparse.ArgumentTypeError(f"invalid value {text!r} ({expected})")
        return values

    convert.__name__ = "integer list"
    return convert


def number(lo: float, strict: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` accepting a number ``>= lo`` (``> lo`` when ``strict``)."""
    expected = f"expected a number {'above' if strict else 'of at least'} {lo:g}"

    def convert(text: str) -> float:
        """``text`` as a number in range, or ``ArgumentTypeError`` naming it."""
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value > lo if strict else value >= lo) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"invalid value {text!r} ({expected})")
        return value

    convert.__name__ = "number"
    return convert


#: A TCP/UDP port: 0 asks the kernel for a free one.
port = int_range(0, 65535, "a port number")


def host(text: str) -> str:
    """An argparse ``type`` accepting an address or a name that resolves (``getaddrinfo``)."""
    try:
        socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = e.strerror if isinstance(e, socket.gaierror) else str(e)
        raise argparse.ArgumentTypeError(
            f"cannot resolve {text!r} ({reason}); expected an IP address such as 127.0.0.1 "
            "or ::1, or a host name that resolves") from None
    return text


def run(main: Callable[[list[str] | None], int | None],
        argv: list[str] | None = None) -> NoReturn:
    """``sys.exit(main(argv))``, ending quietly when the reader of stdout goes away.

    When a pipe's reader exits early (``| head``) the next write fails with
    ``BrokenPipeError``. The output is flushed here so that happens inside the
    ``try``; then stdout is pointed at ``/dev/null`` so the interpreter's own
    flush at exit does not fail again, and the exit status is 1, as the
    Python documentation on SIGPIPE recommends.
    """
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    sys.exit(int(code or 0))
