"""Memory the kernel reads or writes: buffer addresses and page-aligned buffers.

An SQE carries a buffer as a bare address and a length. :func:`export` turns a
Python object into that pair plus a **holder**: an object that keeps a buffer
export on the memory for as long as it lives, so the memory can be neither
freed nor moved -- a ``bytearray`` resize and an ``mmap.close()`` raise
``BufferError`` while it exists, as Python does for any exported buffer. The
operations in :mod:`uring.ops` hand the holder to the ring, which keeps it
until the kernel is done (see :doc:`/lifetimes`). :func:`address` is the same
without the holder, for memory whose lifetime the caller manages.

Accepted: ``bytearray``, contiguous ``memoryview`` (the export is taken on the
memory underneath, so releasing the view -- ``with memoryview(ba) as mv:`` --
does not unpin it), ``mmap``, ctypes arrays and structures, ``bytes`` (the
kernel only reads it; bytes cannot move, the holder is the object itself),
and this module's :class:`Buffer` and :class:`Chunk`, whose address is computed
once so a hot loop pays nothing for it. Refused with ``TypeError``: ctypes
pointers and pointer-valued scalars (``c_char_p``, ``c_void_p``,
``c_wchar_p``, ``py_object``, function pointers), whose own bytes are a
pointer the kernel would overwrite; and, for buffers the kernel writes, ctypes
types with such fields. Refused with ``ValueError``: a closed :class:`Buffer`
or ``mmap``.
"""

from __future__ import annotations

import ctypes
import mmap
import sys

__all__ = [
    "PAGE_SIZE",
    "address",
    "export",
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


def export(buf, writable: bool = False, name: str = "buf") -> tuple[int, int, object]:
    """Return ``(address, nbytes, holder)`` for ``buf``'s memory.

    ``holder`` pins the memory while it lives: for a ``bytearray``, a
    ``memoryview`` or an ``mmap`` it holds a buffer export (a resize or
    ``close()`` then raises ``BufferError``); for ``bytes``, ctypes objects,
    :class:`Buffer` and :class:`Chunk` it is an object that keeps the memory
    alive. Hand it to ``ring.keep`` (the operations do) and drop it only when
    the kernel is done. ``writable=True`` is for buffers the kernel writes into:
    ``bytes`` and read-only views are refused then. Raises ``TypeError`` naming
    ``name`` for objects without usable memory, ``ValueError`` for a closed
    :class:`Buffer` or ``mmap``. An empty buffer gives address 0.
    """
    kind = type(buf)
    if kind is Buffer or kind is Chunk:
        pin = buf.pin if kind is Buffer else buf.buffer.pin
        if pin is None:
            raise ValueError(f"{name} is a closed uring.memory.Buffer")
        return buf.address, buf.size, pin
    if kind is bytearray:
        n = len(buf)
        if not n:
            return 0, 0, buf
        # from_buffer holds an export of buf until the c_char object dies.
        pin = _c_char.from_buffer(buf)
        return _addressof(pin), n, pin
    if kind is memoryview:
        return _view_export(buf, writable, name)
    if kind is bytes:
        if writable:
            raise TypeError(f"{name} is bytes (immutable), but the kernel writes into this"
                            f" buffer; pass a {_kinds()}")
        return _bytes_address(buf), len(buf), buf
    return _export_slow(buf, writable, name)


def address(buf, writable: bool = False, name: str = "buf") -> tuple[int, int]:
    """Return ``(address, nbytes)`` of ``buf``'s memory: :func:`export` without the holder.

    The address stays valid only while ``buf`` lives and keeps its size and
    mapping; the caller must guarantee that (or use :func:`export`).
    """
    addr, n, _ = export(buf, writable, name)
    return addr, n


def _view_export(buf: memoryview, writable: bool, name: str):
    n = buf.nbytes
    if not buf.c_contiguous:
        raise TypeError(f"{name} must be a C-contiguous memoryview")
    if buf.readonly:
        if writable:
            raise TypeError(f"{name} is a read-only memoryview, but the kernel writes"
                            f" into this buffer; pass a writable {_kinds()}")
        if not n:
            return 0, 0, buf
        # A new view on the same managed buffer: the export stays when the
        # caller releases its own view.
        pin = memoryview(buf)
        return _readonly_address(pin), n, pin
    if not n:
        return 0, 0, buf
    pin = _c_char.from_buffer(buf)
    return _addressof(pin), n, pin


# ctypes scalar codes whose value is a pointer: reading the object back after
# the kernel overwrote it would dereference garbage (c_char_p, c_wchar_p,
# py_object) or the caller meant the memory it points to (c_void_p).
_POINTER_CODES = frozenset("zZPO")
_dangerous: dict = {}


def _holds_pointer(cls) -> bool:
    """True if reading a ctypes ``cls`` dereferences a pointer stored in its bytes."""
    try:
        return _dangerous[cls]
    except KeyError:
        pass
    if issubclass(cls, (ctypes._Pointer, ctypes._CFuncPtr)):
        found = True
    elif issubclass(cls, ctypes._SimpleCData):
        found = cls._type_ in "zZO"
    elif issubclass(cls, ctypes.Array):
        found = _holds_pointer(cls._type_)
    elif issubclass(cls, (ctypes.Structure, ctypes.Union)):
        found = any(_holds_pointer(field[1]) for field in getattr(cls, "_fields_", ()))
    else:
        found = False
    _dangerous[cls] = found
    return found


def _export_slow(buf, writable: bool, name: str):
    if isinstance(buf, _CData):
        if isinstance(buf, (ctypes._Pointer, ctypes._CFuncPtr)):
            raise TypeError(f"{name} is a ctypes pointer; pass the array or structure it"
                            " points to (its size is unknown)")
        if isinstance(buf, ctypes._SimpleCData) and buf._type_ in _POINTER_CODES:
            raise TypeError(f"{name} is a pointer-valued ctypes {type(buf).__name__}: its"
                            " own 8 bytes hold an address, which the kernel would overwrite;"
                            " pass the array or structure that holds the data")
        if writable and _holds_pointer(type(buf)):
            raise TypeError(f"{name} is a ctypes {type(buf).__name__} with pointer-valued"
                            " fields: reading it after the kernel wrote into it would"
                            " dereference whatever the kernel put there")
        return _addressof(buf), ctypes.sizeof(buf), buf
    if isinstance(buf, (Chunk, Buffer)):
        pin = buf.pin
        if pin is None:
            raise ValueError(f"{name} is a closed uring.memory.Buffer")
        return buf.address, buf.size, pin
    if isinstance(buf, mmap.mmap):
        if buf.closed:
            raise ValueError(f"{name} is a closed mmap")
        n = len(buf)
        if not n:
            return 0, 0, buf
        try:
            pin = _c_char.from_buffer(buf)
        except TypeError:
            if writable:
                raise TypeError(f"{name} is a read-only mmap, but the kernel writes into"
                                " this buffer") from None
            pin = memoryview(buf)
            return _readonly_address(pin), n, pin
        return _addressof(pin), n, pin
    if isinstance(buf, (bytearray, memoryview, bytes)):
        return _view_export(memoryview(buf), writable, name)
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
    attributes, so :func:`export` returns them at no cost; ``pin`` is the one
    export every request using the buffer shares (``None`` once closed).
    :meth:`close` unmaps the memory, and refuses with ``BufferError`` while a
    request in flight (or any view of the memory) still holds it.
    """

    __slots__ = ("address", "size", "view", "mem", "pin", "__weakref__")

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, not {size!r}")
        self.mem = anonymous_map(size)
        self.size = size
        self.view = memoryview(self.mem)[:size]
        # One export for the buffer's life: the ring keeps a reference to it
        # per request, so close() finds it still exported and refuses.
        self.pin = _c_char.from_buffer(self.mem)
        self.address = _addressof(self.pin)

    def __len__(self) -> int:
        return self.size

    @property
    def closed(self) -> bool:
        """True once :meth:`close` unmapped the memory."""
        return self.pin is None

    def close(self) -> None:
        """Unmap the memory; ``BufferError`` (and nothing changed) while it is still in use."""
        if self.pin is None:
            return
        self.pin = None  # drops our reference; the export lives on if a request holds it
        view, self.view = self.view, None
        try:
            view.release()
            self.mem.close()
        except BufferError:
            self.pin = _c_char.from_buffer(self.mem)
            self.view = memoryview(self.mem)[:self.size]
            raise BufferError("this Buffer is still in use: a request in flight holds it"
                              " (the ring drops it at the request's final CQE) or a view"
                              " of its memory is alive") from None

    def __repr__(self) -> str:
        state = " closed" if self.pin is None else ""
        return f"<Buffer size={self.size} address={self.address:#x}{state}>"


class Chunk:
    """One fixed-size piece of a :class:`BufferPool`: ``index``, ``address``, ``size``, ``view``."""

    __slots__ = ("pool", "buffer", "index", "address", "size", "view")

    def __init__(self, pool: "BufferPool", index: int) -> None:
        self.pool = pool  # keeps the pool's mapping alive as long as the chunk
        self.buffer = pool.buffer
        self.index = index
        self.size = pool.chunk_size
        start = index * pool.chunk_size
        self.address = pool.buffer.address + start
        self.view = pool.buffer.view[start:start + self.size]

    @property
    def pin(self):
        """The pool's export (``None`` once its :class:`Buffer` is closed)."""
        return self.buffer.pin

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
    """A ctypes ``struct iovec[]`` describing ``buffers`` (any iterable of buffers).

    The iterable is read once (a snapshot: clearing the list afterwards
    changes nothing), and the array holds an export of every buffer (see
    :func:`export`) in its ``pins`` attribute, so keeping the array alive keeps
    every buffer it points to alive and unmoved.
    """
    try:
        bufs = list(buffers)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of buffers, not"
                        f" {type(buffers).__name__}") from None
    if not bufs:
        raise ValueError(f"{name} must not be empty")
    array = (iovec * len(bufs))()
    pins = []
    for i, buf in enumerate(bufs):
        addr, n, pin = export(buf, writable, f"{name}[{i}]")
        array[i].iov_base, array[i].iov_len = addr, n
        pins.append(pin)
    array.pins = pins
    return array
