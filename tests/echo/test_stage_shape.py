"""The shape of the echo stages, read from their source: two families on one base,
no method a stage never calls, and one ``user_data`` codec (``uring/echo/tags.py``).

A method is *reachable* on a stage class when the entry points that
``uring.echo.common`` calls on a server (the constructor, ``serve``, ``close``,
``syscalls``, ``unsupported``) lead to it through ``self.NAME`` (or
``cls.NAME``) references, resolved on that class as Python would resolve them,
and ``super().NAME`` references, resolved after the class that makes them. A
reference counts whether it is called, bound to a local or stored in a table of
handlers: the loops bind their handlers before they run.
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import textwrap
import tokenize

import pytest

from uring.echo import buf_ring, common, multishot, poll, registry
from uring.echo.ring_server import RingServer
from uring.echo.tags import Kind

from echo_client import REPO
from stage_info import STAGE_NAMES, stage_class

ECHO = os.path.join(REPO, "uring", "echo")


def entry_points() -> set[str]:
    """What ``common.run_server`` and ``common.main`` call on a stage class or server."""
    names = set()
    for func in (common.run_server, common.main):
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id == "cls":
                    names.add("__init__")
                elif (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                      and f.value.id in ("cls", "server")):
                    names.add(f.attr)
    return names


def _function(member):
    return member.__func__ if isinstance(member, (classmethod, staticmethod)) else member


def _definer(cls: type, name: str, after: type | None = None) -> type | None:
    """The class of ``cls.__mro__`` (after ``after``, if given) that defines ``name``."""
    mro = cls.__mro__
    start = mro.index(after) + 1 if after is not None else 0
    for klass in mro[start:]:
        if name in vars(klass) and inspect.isfunction(_function(vars(klass)[name])):
            return klass
    return None


def _references(klass: type, name: str) -> tuple[set[str], set[str]]:
    """``self.X``/``cls.X`` names and ``super().X`` names in ``klass.name``'s source."""
    source = textwrap.dedent(inspect.getsource(_function(vars(klass)[name])))
    plain, sup = set(), set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in ("self", "cls"):
            plain.add(node.attr)
        elif (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
              and value.func.id == "super"):
            sup.add(node.attr)
    return plain, sup


def reachable(cls: type) -> set[tuple[type, str]]:
    """Every (defining class, method name) the entry points of ``cls`` lead to."""
    todo = [(k, n) for n in entry_points() if (k := _definer(cls, n)) is not None]
    seen: set[tuple[type, str]] = set()
    while todo:
        node = todo.pop()
        if node in seen or node[0] is object:
            continue
        seen.add(node)
        plain, sup = _references(*node)
        todo += [(k, n) for n in plain if (k := _definer(cls, n)) is not None]
        todo += [(k, n) for n in sup if (k := _definer(cls, n, after=node[0])) is not None]
    return seen


def public_methods(cls: type) -> dict[str, type]:
    """Every public method of ``cls``, inherited ones included: name -> defining class."""
    out = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        klass = _definer(cls, name)
        if klass is not None and klass is not object:
            out[name] = klass
    return out


def test_entry_points_are_the_ones_the_driver_uses():
    assert entry_points() == {"__init__", "serve", "close", "syscalls", "unsupported"}


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_every_public_method_is_reachable(name):
    cls = stage_class(name)
    reached = reachable(cls)
    dead = sorted(f"{k.__module__}.{k.__qualname__}.{m}"
                  for m, k in public_methods(cls).items() if (k, m) not in reached)
    assert not dead, f"stage {name} never calls {', '.join(dead)}"


def test_the_check_finds_a_dead_method():
    class Stage(multishot.Server):
        def orphan(self) -> None:
            """Called by nobody."""

    assert (Stage, "orphan") not in reachable(Stage)
    assert (multishot.Server, "received") in reachable(Stage)


def test_two_families_on_one_base():
    assert not issubclass(multishot.Server, buf_ring.Server)
    assert poll.Server.__bases__ == multishot.Server.__bases__ == (RingServer,)
    for name in STAGE_NAMES:
        cls = stage_class(name)
        if issubclass(cls, RingServer):
            assert issubclass(cls, poll.Server) != issubclass(cls, multishot.Server), name


def test_every_stage_is_in_the_registry_in_family_order():
    classes = [s.load() for s in registry.STAGES]
    for cls in classes:
        parent = cls.__bases__[0]
        if parent not in (RingServer, common.EchoServer):
            assert parent in classes[:classes.index(cls)], cls


def _python_files(*tops: str):
    for top in tops:
        for folder, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(folder, f)


def _tokens(path: str | None = None, source: bytes = b""):
    if path is not None:
        with open(path, "rb") as f:
            source = f.read()
    return [t for t in tokenize.tokenize(io.BytesIO(source).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)]


def _number(token) -> object:
    return ast.literal_eval(token.string) if token.type == tokenize.NUMBER else None


def _shift_by_56(tokens) -> list[int]:
    return [b.start[0] for a, b in zip(tokens, tokens[1:])
            if a.type == tokenize.OP and a.string == "<<" and _number(b) == 56]


def test_no_kind_shift_outside_tags():
    """No code shifts by 56 but tags.py (strings and comments may explain the layout)."""
    tags = os.path.join(ECHO, "tags.py")
    found = [f"{os.path.relpath(path, REPO)}:{line}"
             for path in _python_files("uring", "tests", "tools", "tutorials", "docs")
             if path != tags for line in _shift_by_56(_tokens(path))]
    assert _shift_by_56(_tokens(source=b"tag = kind <<  0x38 | fd  # << 56\n")) == [1]
    assert not found, found


def _kind_literals(tree: ast.AST) -> list[int]:
    """Lines where a request kind is a number: ``submit(op, 3, ...)``, ``kind == 3``, ..."""
    kinds = {int(k) for k in Kind}
    lines = []
    for node in ast.walk(tree):
        kind = None
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            position = {"submit": 1, "tag": 0, "pack": 0}.get(name)
            if position is not None and len(node.args) > position:
                kind = node.args[position]
        elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)
              and node.left.id == "kind"):
            kind = node.comparators[0]
        if isinstance(kind, ast.Constant) and kind.value in kinds:
            lines.append(node.lineno)
    return lines


def test_no_fd_mask_or_kind_literal_in_the_stages():
    """The stages name kinds as ``Kind.X`` and use the masks of tags.py."""
    sample = "self.submit(ops.read, 3, conn)\nif kind == 7:\n    pack(Kind.READ, 4)\n"
    assert _kind_literals(ast.parse(sample)) == [1, 2]
    problems = []
    for f in sorted(os.listdir(ECHO)):
        path = os.path.join(ECHO, f)
        if not f.endswith(".py") or f == "tags.py":
            continue
        problems += [f"{f}:{t.start[0]}: a literal 32-bit mask"
                     for t in _tokens(path) if _number(t) == 0xFFFFFFFF]
        with open(path, encoding="utf-8") as src:
            problems += [f"{f}:{line}: a kind as a number"
                         for line in _kind_literals(ast.parse(src.read()))]
    assert not problems, problems
