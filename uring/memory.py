"""Memory the kernel reads or writes: buffer addresses and page-aligned buffers.

An SQE carries a buffer as a bare address and a length. :func:`address` turns a
Python object into that pair, quickly and with clear errors, for everything
that exposes its memory: ``bytearray``, contiguous ``memoryview``, ``mmap``,
ctypes arrays and structures, ``bytes`` (read-only use only), and this module's
own :class:`Buffer` and :class:`BufferPool` chunks, whose address is computed
once so a hot loop pays nothing for it.

The address is only valid while the object lives and is not resized: the
operations in :mod:`uring.ops` hand the object to ``ring.keep`` so it outlives
the request. A ``bytearray`` that is resized while a request uses it would move
its memory; hand the kernel a ``memoryview`` of it instead and the resize
raises ``BufferError`` for as long as the view is kept.
"""

from __future__ import annotations

import ctypes
import mmap
import sys

__all__ = [
    "PAGE_SIZE",
    "address",
    "page_align",
    "anonymous_map",
    "Buffer",
    "BufferPool",
    "Chunk",
    "iovec",
    "iovecs",
]

PAGE_SIZE = mmap.PAGESIZE

_c_char = ctypes.c_char
_addressof = ctypes.addressof
_CData = ctypes.c_int.__mro__[-2]  # ctypes' common base (_ctypes._CData)


class iovec(ctypes.Structure):
    """``struct iovec`` (``<sys/uio.h>``): one buffer of a vectored read/write."""

    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Py_buffer(ctypes.Structure):
    # CPython's Py_buffer (Include/pybuffer.h), stable since 3.3; only used
    # for read-only objects ctypes cannot point into (memoryview of bytes, ...).
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


# PyBUF_C_CONTIGUOUS = 0x20 | PyBUF_STRIDES (0x18): GetBuffer fails unless C-contiguous.
_PyBUF_C_CONTIGUOUS = 0x38
_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_Py_buffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(_Py_buffer)]
_release_buffer.restype = None


def _readonly_address(obj) -> int:
    """Address of any C-contiguous buffer, read-only ones included (slow path)."""
    view = _Py_buffer()
    _get_buffer(obj, ctypes.byref(view), _PyBUF_C_CONTIGUOUS)
    try:
        return view.buf or 0
    finally:
        _release_buffer(ctypes.byref(view))


# A bytes object's data sits at a fixed offset inside the object in CPython
# (PyBytesObject.ob_sval: the size of an empty bytes object minus its NUL), so
# its address is id() plus that offset -- 10x cheaper than ctypes.cast. The
# layout is checked once here against the generic path; elsewhere, or if it
# ever differs, the generic path is used.
_BYTES_DATA = sys.getsizeof(b"") - 1
_probe = b"uring"
if sys.implementation.name != "cpython" or id(_probe) + _BYTES_DATA != _readonly_address(_probe):
    _BYTES_DATA = None
del _probe


def _bytes_address(b: bytes) -> int:
    if _BYTES_DATA is not None:
        return id(b) + _BYTES_DATA
    return _readonly_address(b)


def _kinds() -> str:
    return ("bytearray, contiguous memoryview, mmap, ctypes array, uring.memory.Buffer"
            " or Chunk")


def address(buf, writable: bool = False, name: str = "buf") -> tuple[int, int]:
    """Return ``(address, nbytes)`` of ``buf``'s memory.

    ``writable=True`` is for buffers the kernel writes into (reads, receives):
    ``bytes`` and read-only views are refused then. Raises ``TypeError`` naming
    ``name`` for objects without usable memory (non-contiguous views, ``str``,
    lists...). An empty buffer gives address 0.

    The address stays valid only while ``buf`` lives and keeps its size; see
    the module docstring.
    """
    kind = type(buf)
    if kind is Chunk or kind is Buffer:
        return buf.address, buf.size
    if kind is bytearray:
        n = len(buf)
        return (_addressof(_c_char.from_buffer(buf)) if n else 0), n
    if kind is memoryview:
        n = buf.nbytes
        if not buf.c_contiguous:
            raise TypeError(f"{name} must be a C-contiguous memoryview")
        if buf.readonly:
            if writable:
                raise TypeError(f"{name} is a read-only memoryview, but the kernel writes"
                                f" into this buffer; pass a writable {_kinds()}")
            return (_readonly_address(buf) if n else 0), n
        return (_addressof(_c_char.from_buffer(buf)) if n else 0), n
    if kind is bytes:
        if writable:
            raise TypeError(f"{name} is bytes (immutable), but the kernel writes into this"
                            f" buffer; pass a {_kinds()}")
        return _bytes_address(buf), len(buf)
    return _address_slow(buf, writable, name)


def _address_slow(buf, writable: bool, name: str) -> tuple[int, int]:
    if isinstance(buf, _CData):
        if isinstance(buf, ctypes._Pointer):
            raise TypeError(f"{name} is a ctypes pointer; pass the array or structure it"
                            " points to (its size is unknown)")
        return _addressof(buf), ctypes.sizeof(buf)
    if isinstance(buf, (Chunk, Buffer)):
        return buf.address, buf.size
    if isinstance(buf, mmap.mmap):
        n = len(buf)
        if not n:
            return 0, 0
        try:
            return _addressof(_c_char.from_buffer(buf)), n
        except TypeError:
            if writable:
                raise TypeError(f"{name} is a read-only mmap, but the kernel writes into"
                                " this buffer") from None
            return _readonly_address(buf), n
    if isinstance(buf, (bytearray, memoryview, bytes)):
        return address(memoryview(buf), writable, name)
    if buf is None:
        raise TypeError(f"{name} is None; pass a {_kinds()}")
    raise TypeError(f"{name} must be a {_kinds()} (or bytes for data the kernel only"
                    f" reads), not {type(buf).__name__}")


def page_align(n: int) -> int:
    """``n`` rounded up to a whole number of pages."""
    return (n + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def anonymous_map(nbytes: int) -> mmap.mmap:
    """A zero-filled, page-aligned private anonymous mapping of at least ``nbytes``.

    Ring memory (buffer rings) must be page-aligned, and a page-aligned buffer
    never straddles more pages than it must, which is what pinning (fixed
    buffers) costs.
    """
    if not isinstance(nbytes, int) or nbytes <= 0:
        raise ValueError(f"nbytes must be a positive int, not {nbytes!r}")
    return mmap.mmap(-1, page_align(nbytes), mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                     mmap.PROT_READ | mmap.PROT_WRITE)


class Buffer:
    """A page-aligned anonymous buffer whose address is computed once.

    ``address``, ``size`` and ``view`` (a writable ``memoryview``) are plain
    attributes, so :func:`address` returns them at no cost. The memory lives
    until :meth:`close` (or garbage collection); close it only when no request
    uses it any more.
    """

    __slots__ = ("address", "size", "view", "mem", "__weakref__")

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, not {size!r}")
        self.mem = anonymous_map(size)
        self.size = size
        self.view = memoryview(self.mem)[:size]
        self.address = _addressof(_c_char.from_buffer(self.mem))

    def __len__(self) -> int:
        return self.size

    def close(self) -> None:
        """Unmap the memory (after every request that used it has completed)."""
        if self.view is not None:
            self.view.release()
            self.view = None
            self.mem.close()

    def __repr__(self) -> str:
        return f"<Buffer size={self.size} address={self.address:#x}>"


class Chunk:
    """One fixed-size piece of a :class:`BufferPool`: ``index``, ``address``, ``size``, ``view``."""

    __slots__ = ("pool", "index", "address", "size", "view")

    def __init__(self, pool: "BufferPool", index: int) -> None:
        self.pool = pool  # keeps the pool's mapping alive as long as the chunk
        self.index = index
        self.size = pool.chunk_size
        start = index * pool.chunk_size
        self.address = pool.buffer.address + start
        self.view = pool.buffer.view[start:start + self.size]

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<Chunk {self.index} size={self.size} address={self.address:#x}>"


class BufferPool:
    """``count`` buffers of ``chunk_size`` bytes carved out of one anonymous mapping.

    ``pool[i]`` is a :class:`Chunk` with a precomputed address; ``pool.iovecs()``
    describes all of them for ``register.register_buffers`` (fixed buffers).
    """

    def __init__(self, count: int, chunk_size: int) -> None:
        if not isinstance(count, int) or count <= 0:
            raise ValueError(f"count must be a positive int, not {count!r}")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
        self.count = count
        self.chunk_size = chunk_size
        self.buffer = Buffer(count * chunk_size)
        self.chunks = [Chunk(self, i) for i in range(count)]

    def __getitem__(self, index: int) -> Chunk:
        return self.chunks[index]

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.chunks)

    def iovecs(self):
        """A ctypes ``struct iovec[count]``, one entry per chunk."""
        return iovecs(self.chunks, writable=True)


def iovecs(buffers, writable: bool = False, name: str = "buffers"):
    """A ctypes ``struct iovec[]`` describing ``buffers`` (a sequence of buffers).

    Keep the array *and* the buffers alive while the kernel uses them.
    """
    try:
        bufs = list(buffers)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of buffers, not"
                        f" {type(buffers).__name__}") from None
    if not bufs:
        raise ValueError(f"{name} must not be empty")
    array = (iovec * len(bufs))()
    for i, buf in enumerate(bufs):
        array[i].iov_base, array[i].iov_len = address(buf, writable, f"{name}[{i}]")
    return array
