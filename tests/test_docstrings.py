"""Every public name in the package says what it is (and the package imports cleanly).

Walks every module of ``uring`` (except ``__main__`` entry points, which run on
import), and checks that each public function, class, method and property
defined there has a docstring. Runs the imports under ``-W error`` so a
deprecation or resource warning in our own code fails here first.
"""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import uring


def public_modules(private: bool = False):
    """Every module of ``uring`` but the ``__main__`` entry points.

    With ``private`` the ``_``-prefixed ones too (``ops._common``, ...): their
    public names are re-exported by the package above them, so they are as
    public as anything else.
    """
    names = ["uring"]
    for info in pkgutil.walk_packages(uring.__path__, "uring."):
        last = info.name.rsplit(".", 1)[-1]
        if last == "__main__" or last.startswith("_") and last != "__init__" and not private:
            continue
        names.append(info.name)
    return sorted(names)


def undocumented(module):
    missing = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = member.fget if isinstance(member, property) else member
                if isinstance(func, (staticmethod, classmethod)):
                    func = func.__func__
                if inspect.isfunction(func) and not func.__doc__:
                    missing.append(f"{name}.{attr}")
    return missing


def test_every_public_name_has_a_docstring():
    missing = {}
    for modname in public_modules(private=True):
        module = importlib.import_module(modname)
        if not module.__doc__:
            missing[modname] = ["(module docstring)"]
        gaps = undocumented(module)
        if gaps:
            missing.setdefault(modname, []).extend(gaps)
    assert not missing, f"undocumented public names: {missing}"


def test_package_imports_cleanly_with_warnings_as_errors():
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code, *public_modules()],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
