"""Sphinx configuration for the uring site.

Built by ``tests/test_docs.py`` with ``sphinx-build -W -n --keep-going -b html``:
every warning is an error and every cross-reference must resolve inside the site.
The tutorials live in ``tutorials/`` at the top of the repository (where pytest
runs their samples); ``docs/tutorials`` is a symlink to it so Sphinx sees them.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)                       # import the uring in this tree
sys.path.insert(0, os.path.join(HERE, "_ext"))

import uring  # noqa: E402

project = "uring"
author = "the uring authors"
copyright = "the uring authors, MIT licence"
release = version = uring.__version__

extensions = [
    "sphinx.ext.autodoc",
    "uring_docs",
]

root_doc = "index"
exclude_patterns = ["_build", "benchmarks/*.rst", "tutorials/README.rst", "**/.pytest_cache"]
templates_path = []
html_static_path = ["_static"]
html_css_files = ["wrap.css"]      # long lines in code blocks wrap
html_theme = "alabaster"
html_theme_options = {
    "description": "io_uring from Python, byte by byte",
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_title = "uring"
highlight_language = "python3"
pygments_style = "sphinx"

# Autodoc: members in source order, the signature as written. No default
# "members": with it Sphinx 9 ignores an explicit :members: list, and the
# uring-modules directive names the members of every module it documents.
autodoc_default_options = {
    "undoc-members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autoclass_content = "both"
add_module_names = False

# -n (nitpicky) checks that every cross-reference resolves. References to the
# standard library cannot (no intersphinx: the build must work offline), so
# they are listed here by pattern; everything in uring must resolve.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(builtins\.)?(int|str|bytes|bytearray|memoryview|float|bool|object|"
               r"type|dict|list|tuple|set|frozenset|callable|None|Ellipsis|"
               r"[A-Za-z]*(Error|Exception|Warning)|BaseException|property|"
               r"classmethod|staticmethod|range|slice|complex)"),
    # Everything in the standard library, by module ...
    (r"py:.*", r"(%s)(\..*)?" % "|".join(sorted(sys.stdlib_module_names))),
    # ... and the short names its classes appear under in signatures.
    (r"py:.*", r"(Structure|Union|Array|c_[a-z0-9_]+|CDLL|Thread|Namespace|"
               r"ArgumentParser|mmap|Struct|Popen|TextIO|IO|CompletedProcess|"
               r"IntEnum|IntFlag|Enum|Flag|NamedTuple|Iterable|Iterator|Callable|"
               r"Sequence|Mapping|Any|Path|PathLike|Protocol|BaseTransport|"
               r"AbstractEventLoop)"),
]

# References in others' docstrings that cannot resolve yet (reported to their
# owners); each entry says where it is.
nitpick_ignore = [
    # uring/echo/epoll.py: Conn appears in public signatures but not in __all__.
    ("py:class", "uring.echo.epoll.Conn"),
    # uring/echo/common.py, Stopper: :class:`Ring` where Ring is not imported.
    ("py:class", "Ring"),
]

# What each API page documents; uring_docs expands the patterns against the
# modules that exist, and any public module no pattern claims lands on the
# "other" page, so a newly added module is documented without editing this.
uring_api_groups = {
    "core": ["uring", "uring.errors", "uring.syscall", "uring.barrier", "uring.ring", "uring.sim",
             "uring.probe"],
    "abi": ["uring.abi", "uring.abi._versioned", "uring.abi.*"],
    "ops": ["uring.ops", "uring.ops._common", "uring.ops.*"],
    "buffers": ["uring.buffers", "uring.buffers._ownership", "uring.buffers.*", "uring.register", "uring.memory",
                "uring.recvmsg"],
    "echo": ["uring.echo", "uring.echo.*"],
    "bench": ["uring.bench", "uring.bench.*"],
    "packet": ["uring.packet", "uring.packet.*"],
    "loop": ["uring.loop", "uring.loop.*"],
    "other": [],
}
# Modules whose docstrings do not build under -W yet (reported to their
# owners); they are listed on the API page instead of documented.
uring_api_excluded = {}
