"""Cross-references by Python name: a reference resolves the way Python finds the name.

Autodoc records where each object is documented, keyed by where it is
defined; a ``py:`` reference Sphinx cannot resolve by itself is looked up
through imports and linked to that entry. Builtin names in signatures stay
text.
"""

from __future__ import annotations

import importlib
import inspect
import re

from docutils import nodes

__all__ = ["record_documented", "resolve_by_python_name", "BuiltinAnnotations",
           "merge_documented"]


def record_documented(app, what, name, obj, options, lines) -> None:
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


def resolve_by_python_name(app, env, node, contnode):
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


class BuiltinAnnotations:
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


def merge_documented(app, env, docnames, other) -> None:
    env.uring_documented = getattr(env, "uring_documented", {})
    env.uring_documented.update(getattr(other, "uring_documented", {}))
    env.uring_documented_data = getattr(env, "uring_documented_data", set())
    env.uring_documented_data |= getattr(other, "uring_documented_data", set())
