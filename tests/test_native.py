"""uring.native: one loader for every helper of native_hot/, the echo ones and the packet lab's."""

import os
import shutil
import subprocess
import sys

import pytest

from uring import native

NO_BUILD = shutil.which("make") is None or (shutil.which("gcc") is None
                                            and shutil.which("cc") is None)


@pytest.mark.skipif(NO_BUILD, reason="needs make and a C compiler (gcc)")
@pytest.mark.parametrize("name, kind", [("pktgen", "binary"), ("xdp_rx", "library"),
                                        ("zcrx_rx", "library"), ("echo_load", "binary")])
def test_every_helper_builds_by_its_make_name(name, kind):
    path = native.binary(name) if kind == "binary" else native.library_path(name)
    assert path is not None, native.why_unavailable(name, kind)
    assert path.is_file() and path.parent == native.BUILD_DIR
    assert native.why_unavailable(name) is None


def test_a_helper_that_cannot_build_says_why():
    why = native.why_unavailable("dpdk_rx")
    if why is not None:   # only where pkg-config finds libdpdk does it build
        assert "dpdk_rx" in why and "libdpdk" in why


def test_build_no_uses_only_what_is_built(tmp_path):
    code = ("from uring import native\n"
            "print(native.library('xdp_rx'), native.binary('pktgen'))\n"
            "print(native.why_unavailable('xdp_rx'))")
    env = {**os.environ, "URING_NATIVE_DIR": str(tmp_path), "URING_NATIVE_BUILD": "no"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    first, why = out.stdout.splitlines()
    assert first == "None None"
    assert "libxdp_rx.so is not built" in why and "make -C native_hot xdp_rx" in why
    assert os.listdir(tmp_path) == []
