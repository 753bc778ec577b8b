"""Sphinx directives that build pages of the uring site from the code itself.

* ``uring-modules GROUP``: one section per public module of an API group
  (``uring_api_groups`` in conf.py), each an ``automodule``. A module no group
  claims goes to the group ``other``, so new modules are documented at once.
* ``uring-abi-table ENUM``: a table of an ``uring.abi`` constant family:
  kernel name, value, and the Linux release that added it.
* ``uring-ops-table``: every operation in :data:`uring.ops.OPS` beside the
  liburing helper it matches and its kernel release.
* ``uring-stage-diff MODULE``: what an echo stage changes, as a diff of each
  method it overrides against the stage before it.
* ``uring-bench-results``: the tables and charts committed under
  ``docs/benchmarks/``, or a note saying how to produce them.

All of these read the code at build time, so the pages cannot drift from it.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import os
import pkgutil
import textwrap

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

__all__ = ["public_modules", "api_groups", "setup"]


def public_modules() -> list[str]:
    """Every public module of uring, by the same rule as ``tests/test_docstrings.py``."""
    import uring

    names = ["uring"]
    for info in pkgutil.walk_packages(uring.__path__, "uring."):
        last = info.name.rsplit(".", 1)[-1]
        if last == "__main__" or (last.startswith("_") and last != "__init__"):
            continue
        names.append(info.name)
    return sorted(names)


def api_groups(config) -> dict[str, list[str]]:
    """Group name -> the modules it documents; unclaimed modules go to ``other``.

    A pattern without wildcards may also name a private module (such as
    ``uring.abi._versioned``) whose public classes other modules build on.
    """
    groups: dict[str, list[str]] = {name: [] for name in config.uring_api_groups}
    groups.setdefault("other", [])
    public = public_modules()
    for name, patterns in config.uring_api_groups.items():
        for p in patterns:
            if not any(ch in p for ch in "*?[") and p not in public:
                groups[name].append(p)
    for module in public:
        for name, patterns in config.uring_api_groups.items():
            if any(fnmatch.fnmatchcase(module, p) for p in patterns):
                groups[name].append(module)
                break
        else:
            groups["other"].append(module)
    return groups


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def _documented_members(module: str, modules: list[str]) -> tuple[list[str], list[str]]:
    """What ``automodule`` should leave out of ``module``, and which classes need a
    separate ``autoclass`` for members they inherit from a private base.

    A name re-exported by the parent package (``uring.Ring`` for
    ``uring.ring.Ring``) is documented once, at the package, where programs
    import it from. A package member named like one of its submodules (a
    function ``sockaddr`` from ``uring.ops.sockaddr``) is left to the submodule,
    whose module entry would otherwise clash with it.
    """
    mod = importlib.import_module(module)
    exclude = []
    if "." in module:
        parent = importlib.import_module(module.rsplit(".", 1)[0])
        exported = getattr(parent, "__all__", ())
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if (name in exported and getattr(parent, name, None) is obj
                    and f"{parent.__name__}.{name}" not in modules
                    and (inspect.isclass(obj) or inspect.isroutine(obj))):
                # Data stays with its module: autodoc finds a constant's ``#:``
                # comment only in the source file that assigns it.
                exclude.append(name)
    if hasattr(mod, "__path__"):
        exclude += [name for name in getattr(mod, "__all__", ())
                    if f"{module}.{name}" in modules]
    private_based = []
    for name in getattr(mod, "__all__", ()):
        obj = getattr(mod, name, None)
        if (inspect.isclass(obj) and name not in exclude
                and any(_private_uring_class(c) for c in obj.__mro__[1:])):
            private_based.append(name)
    if hasattr(mod, "__path__"):
        # The other side of the rule above: data re-exported by a package is
        # documented in the module that assigns it.
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)
                    or name in exclude):
                if _defined_elsewhere(mod, name, modules):
                    exclude.append(name)
    # Constants with a ``#:`` comment are found by automodule itself.
    attr_docs = _attr_docs(module)
    data = [name for name in getattr(mod, "__all__", ())
            if name not in exclude and _is_plain_data(getattr(mod, name, None))
            and ("", name) not in attr_docs]
    return exclude, private_based, data


def _attr_docs(module: str) -> dict:
    from sphinx.pycode import ModuleAnalyzer

    try:
        return ModuleAnalyzer.for_module(module).find_attr_docs()
    except Exception:  # no source (a compiled module): nothing to find
        return {}


def _public_names(mod) -> list[str]:
    """``__all__``, or else the public classes and functions the module defines."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    return [name for name, obj in vars(mod).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isroutine(obj))
            and getattr(obj, "__module__", None) == mod.__name__]


def _is_plain_data(obj) -> bool:
    """A constant to document with ``autodata`` (enum members have their tables)."""
    import enum

    return not (obj is None or inspect.isclass(obj) or inspect.isroutine(obj)
                or inspect.ismodule(obj) or isinstance(obj, enum.Enum))


def _defined_elsewhere(package, name: str, modules: list[str]) -> bool:
    """True if a documented submodule of ``package`` has ``name`` in its ``__all__``."""
    for module in modules:
        if module.startswith(package.__name__ + ".") and module.count(".") == \
                package.__name__.count(".") + 1:
            sub = importlib.import_module(module)
            if name in getattr(sub, "__all__", ()) and \
                    getattr(sub, name, None) is getattr(package, name, None):
                return True
    return False


def _private_uring_class(cls) -> bool:
    return cls.__name__.startswith("_") and cls.__module__.startswith("uring")


class ModulesDirective(SphinxDirective):
    """``.. uring-modules:: GROUP``: automodule every module of the group."""

    required_arguments = 1

    def run(self):
        """Expand to one titled section per module."""
        group = self.arguments[0]
        config = self.env.config
        groups = api_groups(config)
        if group not in groups:
            raise self.error(f"unknown API group {group!r}; conf.py has {sorted(groups)}")
        modules = groups[group]
        everything = [m for ms in groups.values() for m in ms]
        excluded = config.uring_api_excluded
        parts = []
        for module in modules:
            mod = importlib.import_module(module)
            if getattr(mod, "__file__", None):
                # An edited module rebuilds the page that documents it.
                self.env.note_dependency(mod.__file__)
            parts.append(_heading(f"``{module}``", "-"))
            if module in excluded:
                # Keep the module as a link target; say why its contents are missing.
                parts.append(f".. py:module:: {module}\n\n"
                             f"(Not rendered in this build: {excluded[module]}.)\n")
                continue
            exclude, private_based, data = _documented_members(module, everything)
            # Name the members rather than exclude the others: an automodule's
            # :exclude-members: also applies inside its classes.
            skip = set(exclude + private_based + data)
            members = [n for n in _public_names(mod) if n not in skip]
            parts.append(f".. automodule:: {module}")
            if members:  # none: only the module's docstring (no default "members")
                parts.append(f"   :members: {', '.join(members)}")
            parts.append("")
            if data:
                # Sphinx's automodule passes over constants without a ``#:``
                # comment (it takes an int's __module__ to be "builtins");
                # naming them documents every name in __all__.
                parts.append(".. rubric:: Constants\n")
                parts += [f".. autodata:: {module}.{name}\n" for name in data]
            for name in private_based:
                cls = getattr(mod, name)
                # Show what the class inherits from its private bases (Cqe.result
                # from _CqeMethods) but nothing from builtins or public bases.
                others = sorted({c.__name__ for c in cls.__mro__[1:]
                                 if not _private_uring_class(c)})
                parts.append(f".. autoclass:: {module}.{name}\n   :members:\n"
                             f"   :inherited-members: {', '.join(others)}\n")
        if not modules:
            parts.append("Nothing here yet.\n")
        return self.parse_text_to_nodes("\n".join(parts), allow_section_headings=True)


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


class StageDiffDirective(SphinxDirective):
    """``.. uring-stage-diff:: uring.echo.fast_poll``: the stage as diffs of its methods.

    Each stage's ``Server`` derives from the previous stage's and overrides only
    what changes, so "the diff from the stage before" is, method by method, the
    override against the method it replaces (or the whole method when it is new).
    """

    required_arguments = 1
    option_spec = {"class": directives.unchanged, "methods": directives.unchanged}

    def run(self):
        """A ``diff`` code block per method the stage's class defines (or those named)."""
        module = importlib.import_module(self.arguments[0])
        self.env.note_dependency(module.__file__)
        cls = getattr(module, self.options.get("class", "Server"))
        base = cls.__mro__[1]
        wanted = [m.strip() for m in self.options.get("methods", "").split(",") if m.strip()]
        missing = [m for m in wanted if m not in vars(cls)]
        if missing:
            raise self.error(f"{cls.__qualname__} in {module.__name__} does not define "
                             f"{', '.join(missing)}")
        out = []
        for name, member in vars(cls).items():
            if wanted and name not in wanted:
                continue
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if not inspect.isfunction(func):
                continue
            new = _method_source(func)
            old_member = getattr(base, name, None)
            old_func = getattr(old_member, "__func__", old_member)
            if inspect.isfunction(old_func):
                old = _method_source(old_func)
                where = f"{old_func.__module__}.{old_func.__qualname__}"
                diff = list(difflib.unified_diff(old, new, where,
                                                 f"{module.__name__}.{cls.__name__}.{name}",
                                                 n=max(len(old), len(new)), lineterm=""))
                title = f"``{name}``: replaces ``{where}``"
            else:
                diff = [f"+{line}" for line in new]
                title = f"``{name}``: new in this stage"
            block = nodes.literal_block("\n".join(diff), "\n".join(diff))
            block["language"] = "diff"
            out.extend(self.parse_text_to_nodes(title))
            out.append(block)
        if not out:
            raise self.error(f"{cls.__qualname__} in {module.__name__} overrides nothing")
        return out


def markdown_to_rst(text: str, folder: str, levels: str = "-~^") -> str:
    """The markdown the benchmarks write (headings, lists, pipe tables, images) as reST.

    ``folder`` is the results folder relative to the docs source, for images.
    Only what ``uring.bench`` emits is understood; anything else passes as text.
    """
    import re

    out: list[str] = []
    lines = text.splitlines()
    i = 0

    def inline(s: str) -> str:
        # `code` -> ``code``; escape reST's own markup characters elsewhere.
        parts = re.split(r"(`[^`]+`)", s)
        done = []
        for part in parts:
            if part.startswith("`") and part.endswith("`") and len(part) > 1:
                done.append(f"``{part[1:-1]}``")
            else:
                done.append(re.sub(r"([*_|\\])", r"\\\1", part))
        return "".join(done)

    def cell(s: str) -> str:
        s = inline(s.strip())
        # A cell reading "-" or "1." would start a list inside the table.
        if re.match(r"^([-*+]|\d+\.)(\s|$)", s):
            s = "\\" + s
        return s or "\\ "

    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^(#+)\s+(.*)$", line)
        image = re.match(r"^!\[([^\]]*)\]\(([^)]+)\)\s*$", line)
        if heading:
            title = inline(heading.group(2))
            char = levels[min(len(heading.group(1)), len(levels)) - 1]
            out += [title, char * max(len(title), 3), ""]
        elif image:
            out += [f".. figure:: /{folder}/{image.group(2)}", "   :width: 100%", "",
                    f"   {inline(image.group(1))}", ""]
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c for c in lines[i].strip().strip("|").split(" | ")]
                if not re.match(r"^[\s:|-]+$", lines[i]):
                    rows.append(cells)
                i += 1
            width = max(len(r) for r in rows)
            out += [".. list-table::", "   :header-rows: 1", ""]
            for row in rows:
                row = row + [""] * (width - len(row))
                out.append(f"   * - {cell(row[0])}")
                out += [f"     - {cell(c)}" for c in row[1:]]
            out.append("")
            continue
        elif line.startswith("- "):
            out.append(f"* {inline(line[2:])}")
        else:
            out.append(inline(line))
        i += 1
    return "\n".join(out) + "\n"


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


# -- tables appended to docstrings: enum members, structure layouts -----------------

_CTYPE_NAMES = {"c_ubyte": "u8", "c_byte": "s8", "c_ushort": "u16", "c_short": "s16",
                "c_uint": "u32", "c_int": "s32", "c_ulong": "u64", "c_long": "s64",
                "c_ulonglong": "u64", "c_longlong": "s64", "c_char": "char",
                "c_void_p": "void *", "c_char_p": "char *"}


def _ctype_name(ctype) -> str:
    if hasattr(ctype, "_length_") and hasattr(ctype, "_type_"):
        return f"{_ctype_name(ctype._type_)}[{ctype._length_}]"
    name = ctype.__name__
    return _CTYPE_NAMES.get(name, name.lstrip("_"))


def _layout(cls, base: int = 0):
    """(offset, size, field, C type) of every named field, anonymous members inlined."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        name, ctype = field[0], field[1]
        desc = getattr(cls, name)
        if name in anonymous:
            yield from _layout(ctype, base + desc.offset)
        elif not name.startswith("_"):
            yield base + desc.offset, desc.size, name, _ctype_name(ctype)


def _struct_table(cls) -> list[str]:
    import ctypes

    rows: dict[int, list[tuple[int, str, str]]] = {}
    for offset, size, name, ctype in _layout(cls):
        rows.setdefault(offset, []).append((size, name, ctype))
    kind = "union" if issubclass(cls, ctypes.Union) else "struct"
    lines = ["", f"Layout ({kind}, {ctypes.sizeof(cls)} bytes; fields at the same "
             "offset share the bytes):", "", ".. list-table::", "   :header-rows: 1",
             "   :widths: 12 10 78", "", "   * - offset", "     - size",
             "     - field (type)"]
    for offset in sorted(rows):
        fields = " / ".join(f"``{n}`` ({t})" for _, n, t in rows[offset])
        size = max(sz for sz, _, _ in rows[offset])
        lines += [f"   * - {offset}", f"     - {size}", f"     - {fields}"]
    return lines


def _enum_table(cls) -> list[str]:
    lines = ["", "Members (each is also a module-level name):", "",
             ".. list-table::", "   :header-rows: 1", "   :widths: 60 20 20", "",
             "   * - name", "     - value", "     - since Linux"]
    flag = issubclass(cls, __import__("enum").Flag)
    for name, member in cls.__members__.items():
        value = f"{int(member):#x}" if flag else str(int(member))
        lines += [f"   * - ``{name}``", f"     - {value}",
                  f"     - {getattr(member, 'since', '') or ''}"]
    return lines


def _add_tables(app, what, name, obj, options, lines) -> None:
    """Append a member table to each kernel enum and a layout to each kernel struct."""
    import ctypes
    import enum

    if what in ("data", "attribute") and type(obj).__name__ == "VersionedInt":
        lines.extend(["", f"Linux {obj.since}."])
    if what != "class" or not inspect.isclass(obj):
        return
    if (issubclass(obj, enum.Enum) and obj.__members__
            and any(hasattr(m, "since") for m in obj.__members__.values())):
        lines.extend(_enum_table(obj))
    elif (issubclass(obj, (ctypes.Structure, ctypes.Union)) and "_fields_" in vars(obj)
          and obj.__module__.startswith("uring.abi")):
        lines.extend(_struct_table(obj))


def _drop_builtin_docstrings(app, what, name, obj, options, lines) -> None:
    """A constant without a ``#:`` comment has no docstring of its own.

    autodoc then shows its type's (a dict's ``dict() -> new empty
    dictionary ...``), which says nothing about the constant and is not
    even valid reST; show the value alone instead.
    """
    if what in ("data", "attribute") and type(obj).__module__ == "builtins" \
            and lines and "\n".join(lines).split() == (type(obj).__doc__ or "").split():
        lines[:] = []


def _skip_members(app, what, name, obj, skip, options):
    """Leave out the members of the kernel enums and the ctypes field descriptors.

    The enum tables list them, with values and versions, in a tenth of the space.
    """
    import enum

    if what in ("class", "module") and isinstance(obj, enum.Enum):
        return True
    if type(obj).__name__ in ("CField", "Field") and type(obj).__module__ in (
            "_ctypes", "ctypes"):
        return True
    return None


def _drop_private_bases(app, name, obj, options, bases) -> None:
    """``Bases:`` lines name only documented classes (not ``_CqeMethods``)."""
    bases[:] = [b for b in bases if not _private_uring_class(b)] or bases[-1:]


# -- references by Python name ----------------------------------------------------

def _record_documented(app, what, name, obj, options, lines) -> None:
    """Remember where each object is documented, keyed by where it is defined.

    Data has no ``__qualname__``; its documented names are kept in a list and
    matched by identity when a reference needs them.
    """
    env = app.env
    env.uring_documented = getattr(env, "uring_documented", {})
    env.uring_documented_data = getattr(env, "uring_documented_data", set())
    key = _definition_key(obj)
    if key:
        env.uring_documented.setdefault(key, name)
    elif what in ("data", "attribute"):
        env.uring_documented_data.add(name)


def _definition_key(obj) -> str | None:
    target = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return f"{module}.{qualname}"
    if inspect.ismodule(obj):
        return obj.__name__
    return None


def _lookup(dotted: str):
    """The object a dotted Python name leads to, by importing and getattr; or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        except Exception:  # a module that fails to import is not a reference target
            return None
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None


def _resolve_by_python_name(app, env, node, contnode):
    """Resolve a ``py:`` reference the way Python would find the name.

    ``:class:`Msghdr``` inside :mod:`uring.ops.net`, ``:func:`uring.ops.files.nop```
    and ``:class:`uring.ring.Ring``` all lead, through imports, to an object
    documented under one name; link to that entry.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = []
    if module and cls:
        candidates.append(f"{module}.{cls}.{target}")
    if module:
        candidates.append(f"{module}.{target}")
    candidates.append(target)
    # A docstring re-exported by a package (``uring.abi.since``) is written
    # in the namespace of the module that defines it: look there too.
    source = node.source or ""
    if "docstring of " in source:
        owner = _lookup(source.split("docstring of ", 1)[1].strip())
        home = getattr(owner, "__module__", None)
        if isinstance(home, str):
            candidates.append(f"{home}.{target}")
    documented = getattr(env, "uring_documented", {})
    data = getattr(env, "uring_documented_data", set())
    reftype = node["reftype"]
    for dotted in candidates:
        obj = _lookup(dotted)
        if obj is None and "." in dotted:
            # An instance attribute (``self.enter_count = 0``) has no entry of
            # its own: link to the class that sets it.
            owner, attr = dotted.rsplit(".", 1)
            cls = _lookup(owner)
            if inspect.isclass(cls) and _instance_attribute(cls, attr):
                obj, reftype = cls, "class"
        if obj is None:
            continue
        key = _definition_key(obj)
        if key and any(part.startswith("_") and not part.startswith("__")
                       for part in key.split(".")[1:]) and key not in documented:
            # A private helper named in a signature: there is no page to link to.
            return contnode
        if key:
            name = documented.get(key)
        else:
            name = next((n for n in sorted(data) if _lookup(n) is obj), None)
        if name and name != target:
            domain = env.get_domain("py")
            newnode = node.deepcopy()
            newnode["reftarget"] = name
            newnode["py:module"] = None
            newnode["py:class"] = None
            return domain.resolve_xref(env, node["refdoc"], app.builder, reftype,
                                       name, newnode, contnode)
    return None


def _instance_attribute(cls, attr: str) -> bool:
    """True if ``attr`` is set on instances of ``cls`` (in a method, slots or fields)."""
    import re

    for klass in cls.__mro__:
        if not klass.__module__.startswith("uring"):
            continue
        if attr in getattr(klass, "__slots__", ()) or attr in getattr(
                klass, "__dataclass_fields__", {}) or attr in vars(klass).get(
                "__annotations__", {}):
            return True
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        # self.x = ..., self.x: int = ..., self.x, self.y = ...
        if re.search(rf"\bself\.{re.escape(attr)}\b\s*(:[^=\n]+|,[^=\n]+)?=(?!=)", source):
            return True
    return False


class _BuiltinAnnotations:
    """Keep ``bytes`` in a signature from linking to some documented ``Stats.bytes``.

    Sphinx resolves a type name loosely when nothing matches exactly (any
    object whose name ends the same); a builtin's name is never meant as a
    uring attribute, so it is left as text.
    """

    @staticmethod
    def apply(app, doctree) -> None:
        """Replace py references to builtin names in signatures by their text."""
        import builtins

        from sphinx import addnodes

        for ref in list(doctree.findall(addnodes.pending_xref)):
            if (ref.get("refdomain") == "py" and ref["reftarget"] in vars(builtins)
                    and ref.get("reftype") in ("class", "obj")):
                ref.replace_self(ref.children[0] if ref.children
                                 else nodes.Text(ref["reftarget"]))


def _merge_documented(app, env, docnames, other) -> None:
    env.uring_documented = getattr(env, "uring_documented", {})
    env.uring_documented.update(getattr(other, "uring_documented", {}))
    env.uring_documented_data = getattr(env, "uring_documented_data", set())
    env.uring_documented_data |= getattr(other, "uring_documented_data", set())


def setup(app):
    """Register the directives, the autodoc hooks and the conf.py values they read."""
    app.add_config_value("uring_api_groups", {}, "env")
    app.add_config_value("uring_api_excluded", {}, "env")
    app.add_directive("uring-modules", ModulesDirective)
    app.add_directive("uring-abi-table", AbiTableDirective)
    app.add_directive("uring-ops-table", OpsTableDirective)
    app.add_directive("uring-stage-diff", StageDiffDirective)
    app.add_directive("uring-bench-results", BenchResultsDirective)
    app.connect("autodoc-process-docstring", _drop_builtin_docstrings)
    app.connect("autodoc-process-docstring", _add_tables)
    app.connect("autodoc-process-docstring", _record_documented)
    app.connect("autodoc-skip-member", _skip_members)
    app.connect("autodoc-process-bases", _drop_private_bases)
    app.connect("missing-reference", _resolve_by_python_name)
    app.connect("env-merge-info", _merge_documented)
    app.connect("doctree-read", _BuiltinAnnotations.apply)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
