"""Which modules and members the API reference documents: the ``uring-modules`` directive.

Every public module of uring (by the rule of ``tests/test_docstrings.py``)
belongs to one API page (``uring_api_groups`` in conf.py, unclaimed ones to
``other``); each gets an ``automodule`` naming exactly the members to show,
so that a name re-exported in several places is documented once.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil

from sphinx.util.docutils import SphinxDirective

__all__ = ["public_modules", "api_groups", "ModulesDirective"]


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
    for name in getattr(mod, "__all__", ()):
        # A class or function re-exported from an unrelated documented module
        # (``uring.probe.OperationUnsupported`` from ``uring.errors``) is
        # documented there; a package's own submodules follow the rule above.
        obj = getattr(mod, name, None)
        home = getattr(obj, "__module__", None)
        if ((inspect.isclass(obj) or inspect.isroutine(obj)) and name not in exclude
                and home in modules and home != module
                and not home.startswith(module + ".")):
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
