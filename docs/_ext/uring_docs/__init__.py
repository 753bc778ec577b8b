"""Sphinx extension that builds pages of the uring site from the code itself.

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

The package, by job:

* :mod:`.api_pages` -- which modules and members the API reference shows
  (``uring-modules``);
* :mod:`.directives` -- the tables, stage diffs and benchmark results;
* :mod:`.autodoc_hooks` -- enum and struct tables appended to docstrings, and
  what autodoc leaves out;
* :mod:`.xrefs` -- references resolved by Python name;
* :mod:`.markdown` -- the benchmarks' Markdown as reST.
"""

from __future__ import annotations

from . import autodoc_hooks, xrefs
from .api_pages import ModulesDirective, api_groups, public_modules
from .directives import (AbiTableDirective, BenchResultsDirective, OpsTableDirective,
                         StageDiffDirective)
from .markdown import markdown_to_rst

__all__ = ["public_modules", "api_groups", "markdown_to_rst", "setup"]


def setup(app):
    """Register the directives, the autodoc hooks and the conf.py values they read."""
    app.add_config_value("uring_api_groups", {}, "env")
    app.add_config_value("uring_api_excluded", {}, "env")
    app.add_directive("uring-modules", ModulesDirective)
    app.add_directive("uring-abi-table", AbiTableDirective)
    app.add_directive("uring-ops-table", OpsTableDirective)
    app.add_directive("uring-stage-diff", StageDiffDirective)
    app.add_directive("uring-bench-results", BenchResultsDirective)
    app.connect("autodoc-process-docstring", autodoc_hooks.drop_builtin_docstrings)
    app.connect("autodoc-process-docstring", autodoc_hooks.add_tables)
    app.connect("autodoc-process-docstring", xrefs.record_documented)
    app.connect("autodoc-skip-member", autodoc_hooks.skip_members)
    app.connect("autodoc-process-bases", autodoc_hooks.drop_private_bases)
    app.connect("missing-reference", xrefs.resolve_by_python_name)
    app.connect("env-merge-info", xrefs.merge_documented)
    app.connect("doctree-read", xrefs.BuiltinAnnotations.apply)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
