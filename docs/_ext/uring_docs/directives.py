"""The directives that build tables and diffs from the code at build time.

* ``uring-abi-table ENUM``: a table of an ``uring.abi`` constant family.
* ``uring-ops-table``: :data:`uring.ops.OPS` beside liburing's helpers.
* ``uring-stage-diff MODULE``: an echo stage as diffs of its settings and methods.
* ``uring-bench-results``: the results committed under ``docs/benchmarks/``.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import os
import textwrap

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from .markdown import markdown_to_rst

__all__ = ["AbiTableDirective", "OpsTableDirective", "StageDiffDirective",
           "BenchResultsDirective"]


class AbiTableDirective(SphinxDirective):
    """``.. uring-abi-table:: IoringOp``: name, value and first kernel of each member."""

    required_arguments = 1
    option_spec = {"module": directives.unchanged, "hex": directives.flag}

    def run(self):
        """Build a list-table from the enum's members."""
        module = importlib.import_module(self.options.get("module", "uring.abi"))
        cls = getattr(module, self.arguments[0])
        as_hex = "hex" in self.options
        rows = []
        for name, member in cls.__members__.items():
            value = f"{int(member):#x}" if as_hex else str(int(member))
            rows.append(f"   * - ``{name}``\n     - {value}\n     - {member.since}")
        text = (".. list-table::\n   :header-rows: 1\n   :widths: 60 20 20\n\n"
                "   * - name\n     - value\n     - since Linux\n" + "\n".join(rows) + "\n")
        return self.parse_text_to_nodes(text)


class OpsTableDirective(SphinxDirective):
    """``.. uring-ops-table::``: the operation table of :mod:`uring.ops`."""

    def run(self):
        """One row per operation: liburing helper, uring function, opcode, kernel."""
        from uring import abi, ops

        rows = []
        for spec in ops.OPS.values():
            opname = abi.IoringOp(spec.opcode).name
            since = spec.since + (f" (``{spec.feature}``)" if spec.feature
                                  and not spec.feature.startswith("direct") else "")
            if spec.feature.startswith("direct"):
                since += " (direct descriptors)"
            rows.append(f"   * - ``{spec.liburing}``\n     - :func:`uring.ops.{spec.name}`\n"
                        f"     - ``{opname}``\n     - {since}")
        text = (".. list-table::\n   :header-rows: 1\n   :widths: 34 26 24 16\n\n"
                "   * - liburing\n     - uring\n     - opcode\n     - since Linux\n"
                + "\n".join(rows) + "\n")
        return self.parse_text_to_nodes(text)


def _method_source(func) -> list[str]:
    return textwrap.dedent(inspect.getsource(func)).splitlines()


def _class_settings(cls) -> dict[str, list[str]]:
    """The plain assignments of ``cls``'s own body (``SQE_FLAGS = ...``): name -> source lines."""
    src = textwrap.dedent(inspect.getsource(cls))
    out = {}
    for node in ast.parse(src).body[0].body:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            if isinstance(target, ast.Name) and not target.id.startswith("__"):
                out[target.id] = ast.get_source_segment(src, node).splitlines()
    return out


def _inherited_setting(base, name: str):
    """``(source lines, qualified name)`` of the setting ``name`` as ``base`` has it, or None."""
    for klass in base.__mro__:
        if klass is not object and name in vars(klass):
            settings = _class_settings(klass)
            if name in settings:
                return settings[name], f"{klass.__module__}.{klass.__qualname__}.{name}"
    return None


def _diff(old: list[str], new: list[str], where: str, here: str) -> list[str]:
    return list(difflib.unified_diff(old, new, where, here, n=max(len(old), len(new)),
                                     lineterm=""))


class StageDiffDirective(SphinxDirective):
    """``.. uring-stage-diff:: uring.echo.fast_poll``: the stage as diffs from its parent.

    Each stage's ``Server`` derives from the previous stage of its family (or
    from the base, ``RingServer``) and overrides only what changes, so "the
    diff from the stage before" is, setting by setting and method by method,
    the override against what it replaces: a class setting
    (``SQE_FLAGS = ...``) first, then each method, whole when it is new or
    fills in one of the base's abstract methods.
    """

    required_arguments = 1
    option_spec = {"class": directives.unchanged, "methods": directives.unchanged}

    def run(self):
        """A ``diff`` code block per setting and method the class defines (or those named)."""
        module = importlib.import_module(self.arguments[0])
        self.env.note_dependency(module.__file__)
        cls = getattr(module, self.options.get("class", "Server"))
        base = cls.__mro__[1]
        here = f"{module.__name__}.{cls.__name__}"
        wanted = [m.strip() for m in self.options.get("methods", "").split(",") if m.strip()]
        missing = [m for m in wanted if m not in vars(cls)]
        if missing:
            raise self.error(f"{cls.__qualname__} in {module.__name__} does not define "
                             f"{', '.join(missing)}")
        out = []

        def show(title: str, diff: list[str]) -> None:
            block = nodes.literal_block("\n".join(diff), "\n".join(diff))
            block["language"] = "diff"
            out.extend(self.parse_text_to_nodes(title))
            out.append(block)

        if not wanted:
            for name, new in _class_settings(cls).items():
                old = _inherited_setting(base, name)
                if old is None:
                    show(f"``{name}``: new in this stage", [f"+{line}" for line in new])
                elif old[0] != new:
                    show(f"``{name}``: replaces ``{old[1]}``",
                         _diff(old[0], new, old[1], f"{here}.{name}"))
        for name, member in vars(cls).items():
            if wanted and name not in wanted:
                continue
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if not inspect.isfunction(func):
                continue
            new = _method_source(func)
            old_member = getattr(base, name, None)
            old_func = getattr(old_member, "__func__", old_member)
            if not inspect.isfunction(old_func):
                show(f"``{name}``: new in this stage", [f"+{line}" for line in new])
                continue
            where = f"{old_func.__module__}.{old_func.__qualname__}"
            if getattr(old_func, "__isabstractmethod__", False):
                # The base only names it (a docstring): the stage's whole method is new.
                show(f"``{name}``: implements ``{where}``", [f"+{line}" for line in new])
            else:
                show(f"``{name}``: replaces ``{where}``",
                     _diff(_method_source(old_func), new, where, f"{here}.{name}"))
        if not out:
            raise self.error(f"{cls.__qualname__} in {module.__name__} overrides nothing")
        return out


class BenchResultsDirective(SphinxDirective):
    """``.. uring-bench-results::``: whatever the benchmarks committed to ``docs/benchmarks``.

    Each folder there is one ``python -m uring.bench ... --out docs/benchmarks/NAME``
    run: its ``summary.md`` is shown (converted to reST, charts included). Loose
    ``NAME.rst`` fragments are included, ``NAME.csv`` becomes a table and
    ``NAME.svg`` a figure. With nothing committed the page says so.
    ``:only: charts`` keeps only the charts (each run's under its name),
    ``:only: tables`` everything else.
    """

    option_spec = {"only": lambda arg: directives.choice(arg, ("charts", "tables"))}

    def run(self):
        """Include every result, or a paragraph when there are none."""
        only = self.options.get("only")
        base = os.path.join(self.env.srcdir, "benchmarks")
        names = sorted(os.listdir(base)) if os.path.isdir(base) else []
        parts = []
        for name in names:
            path = os.path.join(base, name)
            stem, ext = os.path.splitext(name)
            summary = os.path.join(path, "summary.md")
            if os.path.isdir(path) and os.path.isfile(summary):
                self.env.note_dependency(summary)
                with open(summary, encoding="utf-8") as f:
                    text = f.read()
                if only:
                    lines = text.splitlines()
                    charts = [ln for ln in lines if ln.startswith("![")]
                    if only == "charts":
                        text = f"**{name}**\n\n" + "\n".join(charts) if charts else ""
                    else:
                        text = "\n".join(ln for ln in lines if ln not in charts)
                if text:
                    parts.append(markdown_to_rst(text, f"benchmarks/{name}"))
            elif only == "charts" and ext != ".svg":
                continue
            elif ext == ".rst":
                self.env.note_dependency(path)
                parts.append(f".. include:: /benchmarks/{name}\n")
            elif ext == ".csv":
                self.env.note_dependency(path)
                parts.append(f".. csv-table:: ``{name}``\n   :file: /benchmarks/{name}\n"
                             f"   :header-rows: 1\n")
            elif ext == ".svg" and only != "tables":
                parts.append(f".. figure:: /benchmarks/{name}\n   :width: 100%\n\n"
                             f"   ``{name}``\n")
        if not parts:
            parts.append("No benchmark results are committed yet: run a benchmark with "
                         "``--out docs/benchmarks/NAME`` and commit the folder; this page "
                         "then shows its tables and charts.\n")
        return self.parse_text_to_nodes("\n".join(parts), allow_section_headings=True)
