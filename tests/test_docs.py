"""The documentation site builds cleanly, links within itself, and its samples run.

* ``sphinx-build -W -n --keep-going -b html``: every warning is an error,
  and ``-n`` makes every cross-reference (to a module, class, function, page)
  resolve inside the site. The API reference documents every public module and
  every name in their ``__all__``.
* The built HTML is checked for links to pages or anchors that do not exist.
* The pictures of ``docs/img`` match what ``docs/img/draw.py`` draws.
* Every tutorial has samples and ends with "What to try next", and no Python
  code on those pages escapes execution. The samples themselves run as
  doctests collected by ``tutorials/conftest.py``; the ``>>>`` samples on the
  other pages of the site run here.
"""

from __future__ import annotations

import doctest
import glob
import html.parser
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import urllib.parse

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
TUTORIALS = os.path.join(ROOT, "tutorials")

needs_sphinx = pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                                  reason="sphinx is not installed (tools/setup-dev installs it)")

#: The tutorials the site promises, by number (issues 7, 11 and 12).
EXPECTED_TUTORIALS = 26


def tutorial_files() -> list[str]:
    """``tutorials/NN-*.rst``, in order."""
    return sorted(glob.glob(os.path.join(TUTORIALS, "[0-9][0-9]-*.rst")))


def examples(path: str) -> list[doctest.Example]:
    """The ``>>>`` samples of an reST file, as doctest sees them."""
    with open(path, encoding="utf-8") as f:
        return doctest.DocTestParser().get_examples(f.read(), path)


# -- the build ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """Build the site once (fresh environment); return the HTML folder."""
    out = tmp_path_factory.mktemp("html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-E", "-q",
         "-b", "html", "-d", str(doctrees), DOCS, str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, f"sphinx-build -W -n failed:\n{proc.stderr}{proc.stdout}"
    return str(out)


@needs_sphinx
def test_site_builds_with_warnings_as_errors(built_site):
    for page in ("index", "architecture", "liburing", "benchmarks", "troubleshooting",
                 "api/index", "tutorials/index"):
        assert os.path.isfile(os.path.join(built_site, page + ".html")), page


@needs_sphinx
def test_api_reference_documents_every_public_module(built_site):
    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import uring_docs
    finally:
        sys.path.pop(0)
    pages = ""
    for path in glob.glob(os.path.join(built_site, "api", "*.html")):
        with open(path, encoding="utf-8") as f:
            pages += f.read()
    missing = [m for m in uring_docs.public_modules() if f'id="module-{m}"' not in pages]
    assert not missing, f"public modules without an entry in the API reference: {missing}"


@needs_sphinx
def test_api_reference_documents_every_public_name(built_site):
    """Every name in a public module's ``__all__`` has an entry of its own.

    A name counts as documented where any documented module has an entry for
    the same object under that name (``uring.Ring`` documents
    ``uring.ring.Ring``); an enum member is documented in its class's table,
    so its class needs an entry; a submodule needs its module entry.
    """
    import enum

    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import uring_docs
    finally:
        sys.path.pop(0)
    ids: set[str] = set()
    for path in glob.glob(os.path.join(built_site, "api", "*.html")):
        parser = _Links()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        ids |= parser.ids
    documented = {i[len("module-"):] for i in ids if i.startswith("module-")}
    modules = {name: importlib.import_module(name) for name in documented}

    def has_entry(name: str, obj) -> bool:
        return any(f"{m}.{name}" in ids and getattr(mod, name, None) is obj
                   for m, mod in modules.items())

    missing = []
    for module in uring_docs.public_modules():
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.ismodule(obj):
                ok = obj.__name__ in documented
            elif isinstance(obj, enum.Enum):
                ok = has_entry(type(obj).__qualname__, type(obj))
            else:
                ok = has_entry(name, obj)
            if not ok:
                missing.append(f"{module}.{name}")
    assert not missing, f"public names without an entry in the API reference: {missing}"


class _Links(html.parser.HTMLParser):
    """Collects ``href`` targets and ``id`` anchors of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value)
            elif name in ("id", "name") and value:
                self.ids.add(value)


@needs_sphinx
def test_no_broken_links_within_the_site(built_site):
    pages: dict[str, _Links] = {}
    for path in glob.glob(os.path.join(built_site, "**", "*.html"), recursive=True):
        parser = _Links()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        pages[os.path.normpath(path)] = parser
    broken = []
    for path, links in pages.items():
        for href in links.hrefs:
            parts = urllib.parse.urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue  # outside the site: not checked (no network in CI)
            target = (os.path.normpath(os.path.join(os.path.dirname(path),
                                                    urllib.parse.unquote(parts.path)))
                      if parts.path else path)
            if not os.path.exists(target):
                broken.append(f"{os.path.relpath(path, built_site)} -> {href}")
            elif parts.fragment and target in pages and \
                    urllib.parse.unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{os.path.relpath(path, built_site)} -> {href} (no anchor)")
    assert not broken, "broken links:\n" + "\n".join(sorted(set(broken)))


# -- pictures -----------------------------------------------------------------------------

def test_ring_pictures_match_their_script():
    spec = importlib.util.spec_from_file_location("draw", os.path.join(DOCS, "img", "draw.py"))
    draw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(draw)
    for name, picture in draw.PICTURES.items():
        with open(os.path.join(DOCS, "img", name), encoding="utf-8") as f:
            assert f.read() == picture(), f"docs/img/{name} is stale: run docs/img/draw.py"


# -- tutorials ----------------------------------------------------------------------------

def test_every_tutorial_exists_in_order():
    numbers = [int(os.path.basename(p)[:2]) for p in tutorial_files()]
    assert numbers == list(range(1, EXPECTED_TUTORIALS + 1))


@pytest.mark.parametrize("path", tutorial_files(), ids=os.path.basename)
def test_tutorial_has_samples_and_what_to_try_next(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert examples(path), "a tutorial without a single executed sample"
    headings = re.findall(r"^(.+)\n[-=~^]{3,}\s*$", text, re.M)
    assert headings[-1].strip() == "What to try next", headings[-1]
    # Python on these pages is either a >>> sample (run by the tests) or a
    # literalinclude of code the tests run; a plain block would go unexecuted.
    blocks = re.findall(r"^\.\. (?:code-block|code|sourcecode)::\s*(\S*)", text, re.M)
    assert not [b for b in blocks if b.startswith(("py", "pycon"))], blocks
    assert not re.search(r"::\n\n\s+>>>", text), "a >>> sample in a literal block is not run"


def test_count_tutorial_samples():
    per_file = {os.path.basename(p): len(examples(p)) for p in tutorial_files()}
    total = sum(per_file.values())
    print(f"\n{total} tutorial samples in {len(per_file)} tutorials: "
          + ", ".join(f"{name[:2]}={n}" for name, n in per_file.items()))
    assert all(per_file.values())


def site_pages_with_samples() -> list[str]:
    """Pages of the site outside ``tutorials/`` that contain ``>>>`` samples."""
    pages = glob.glob(os.path.join(DOCS, "*.rst")) + glob.glob(os.path.join(DOCS, "*", "*.rst"))
    return sorted(p for p in pages if "/tutorials/" not in p and examples(p))


@pytest.mark.parametrize("path", site_pages_with_samples(),
                         ids=lambda p: os.path.relpath(p, DOCS))
def test_site_page_samples_run(path):
    from uring import probe

    info = probe.get()
    if not info.usable:
        pytest.skip(info.reason)
    result = doctest.testfile(path, module_relative=False, verbose=False, report=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} samples failed"
