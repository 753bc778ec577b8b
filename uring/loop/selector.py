"""Readiness on io_uring: a :class:`selectors.BaseSelector` made of ``POLL_ADD`` requests.

Every registered file has at most one ``IORING_OP_POLL_ADD`` request in the
ring, asking for ``POLLIN`` and/or ``POLLOUT``. :meth:`UringSelector.select`
is a single ``io_uring_enter``: it submits the changes queued since the last
call (new polls, re-armed polls, removals) and waits for the first
completion, or the timeout. No change costs a system call of its own except
:meth:`~UringSelector.unregister`, which submits its ``POLL_REMOVE`` at once
(a poll holds a reference to the file: until it is removed, closing the
socket would not really close it).

**Level-triggered, by re-arming.** asyncio (and every ``selectors`` user)
expects level-triggered readiness: a socket with unread data is reported at
every ``select()`` until it is drained. A poll request is single-shot: after
its CQE it is gone, and the next ``select()`` arms it again in the same
``io_uring_enter`` that waits. Arming checks readiness first (``vfs_poll``),
so a file that is still ready completes inline and is reported again -- the
level semantics exactly, at one SQE per event and no extra system call.
Multishot polls (``IORING_POLL_ADD_MULTI``, 5.13) are not used here: they
post one CQE per wake-up (edge-triggered, even with ``IORING_POLL_ADD_LEVEL``),
so data left unread after one callback would never be reported again. The
completion paths of :mod:`uring.loop.transports` are where "arm once" pays.

**Stale completions.** Each armed poll gets a fresh ``user_data`` from a
counter, and only the currently armed one of a registration is known: the
CQE of a poll that was removed, replaced by :meth:`~UringSelector.modify`, or
that belongs to a closed file whose number was reused, finds no entry and
is dropped. A poll on a file closed while registered keeps the kernel's
reference to that file until the poll is removed, so it can neither fire for
nor be confused with a new file under the same number.
"""

from __future__ import annotations

import errno
import os
import select
import selectors
from collections.abc import Mapping
from time import monotonic

from ..abi import (
    IORING_CQE_F_MORE,
    IORING_FEAT_EXT_ARG,
    IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_TASKRUN_FLAG,
)
from ..ops import poll_add, poll_remove, timeout as timeout_op, timeout_remove
from ..ring import Ring, SubmissionQueueFull

__all__ = ["UringSelector", "ForkedRingError"]

EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_POLLIN, _POLLOUT = select.POLLIN, select.POLLOUT
# What a CQE's mask means to a selector, as PollSelector reads poll(2):
# anything but POLLIN (POLLOUT, POLLERR, POLLHUP) wakes a writer, anything but
# POLLOUT wakes a reader, so an error or hang-up reaches whoever waits.
_NOT_IN, _NOT_OUT = ~_POLLIN, ~_POLLOUT
_F_MORE = int(IORING_CQE_F_MORE)
_REMOVE = 0  # user_data of POLL_REMOVE requests; their CQEs carry nothing we need


class ForkedRingError(RuntimeError):
    """The selector was created in another process: its ring is the parent's.

    A forked child shares the parent's io_uring instance (the fd and the
    mapped rings); submitting from the child would add requests to the
    parent's loop. Create a new event loop in the child.
    """


class _Map(Mapping):
    """The read-only ``fileobj -> SelectorKey`` view that :meth:`get_map` returns."""

    __slots__ = ("_keys", "_selector")

    def __init__(self, selector: "UringSelector") -> None:
        self._selector = selector
        self._keys = selector._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, fileobj):
        fd = self._selector._lookup(fileobj)
        try:
            return self._keys[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __iter__(self):
        return iter(self._keys)


def _fileobj_to_fd(fileobj) -> int:
    """The fd of an int or an object with ``fileno()`` (as ``selectors`` does it)."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _new_ring(entries: int) -> Ring:
    """A ring with room for many completions, completing only when we enter if it can.

    ``IORING_SETUP_COOP_TASKRUN`` (5.19): the kernel no longer interrupts
    the running loop (an IPI and a forced kernel entry, like a signal) to
    post each completion; it queues them until the next ``io_uring_enter``,
    which the loop makes anyway. ``TASKRUN_FLAG`` tells a non-waiting
    ``select(0)`` that such work is pending. Older kernels refuse the flags
    (EINVAL): then a plain ring.
    """
    try:
        return Ring(entries, cq_entries=entries * 16,
                    flags=int(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG))
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        return Ring(entries, cq_entries=entries * 16)


class UringSelector(selectors.BaseSelector):
    """A selector whose waits are io_uring polls: one ``io_uring_enter`` per :meth:`select`.

    ``ring`` is an existing :class:`~uring.Ring` to use (the selector then
    shares it, e.g. with completion-based operations, and closes it in
    :meth:`close`); by default one with ``entries`` SQEs is set up. The
    CQ ring is as large as the kernel allows for that, and completions past
    it wait in the kernel (``IORING_FEAT_NODROP``, 5.5) until the next
    ``select()`` collects them.

    Needs ``IORING_FEAT_EXT_ARG`` (Linux 5.11) to wait with a timeout in one
    system call; on older kernels a ``IORING_OP_TIMEOUT`` request queued
    beside the polls ends the wait instead.
    """

    def __init__(self, ring: Ring | None = None, *, entries: int = 256) -> None:
        self._ring = ring if ring is not None else _new_ring(entries)
        self._pid = os.getpid()
        self._keys: dict[int, selectors.SelectorKey] = {}
        self._map = _Map(self)
        # fd -> user_data of its armed poll (absent: not armed).
        self._armed_ud: dict[int, int] = {}
        # user_data of an armed poll -> its fd; a CQE not found here is stale.
        self._armed: dict[int, int] = {}
        # Registrations to arm at the next select(): new, modified, or fired.
        self._to_arm: set[int] = set()
        self._next_ud = 1
        self._completion_handlers: dict[int, object] = {}
        # Completion requests queued for the next select(): (wanted, op, args, kwargs).
        self._requests: list = []
        #: Wait with a timeout in io_uring_enter itself (5.11); else a TIMEOUT request.
        self.ext_arg = bool(self._ring.features & IORING_FEAT_EXT_ARG)

    # -- the registration table ------------------------------------------------

    def _lookup(self, fileobj) -> int:
        """The fd for ``fileobj``, even if it was closed since registration."""
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            # A closed socket's fileno() is -1: find it by identity, as
            # selectors._BaseSelectorImpl does, so it can still be unregistered.
            for key in self._keys.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def register(self, fileobj, events: int, data=None) -> selectors.SelectorKey:
        """Watch ``fileobj`` for ``events`` (``EVENT_READ | EVENT_WRITE``); armed at the next select."""
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        self._check_pid()
        if self._ring.closed:
            raise RuntimeError("this selector is closed")
        fd = self._lookup(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        self._to_arm.add(fd)
        return key

    def unregister(self, fileobj) -> selectors.SelectorKey:
        """Stop watching ``fileobj``; its poll is removed now (one ``io_uring_enter``)."""
        fd = self._lookup(fileobj)
        try:
            key = self._keys.pop(fd)
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        self._to_arm.discard(fd)
        if self._disarm(fd) and not self._ring.closed:
            # Submit now: the armed poll holds a reference to the file, and the
            # caller is about to close it (the peer must see the close).
            self._ring.submit()
        return key

    def modify(self, fileobj, events: int, data=None) -> selectors.SelectorKey:
        """Change the events or data of a registration; new events re-arm its poll."""
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._lookup(fileobj)
        try:
            key = self._keys[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if events != key.events:
            self._check_pid()
            self._disarm(fd)
            self._to_arm.add(fd)
        elif data is key.data:
            return key
        key = self._keys[fd] = key._replace(events=events, data=data)
        return key

    def get_key(self, fileobj) -> selectors.SelectorKey:
        """The :class:`selectors.SelectorKey` of ``fileobj`` (``KeyError`` if not registered)."""
        return self._map[fileobj]

    def get_map(self) -> Mapping:
        """A read-only mapping of file objects to their keys."""
        return self._map

    # -- polls in the ring ---------------------------------------------------------

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            raise ForkedRingError(
                f"this selector's io_uring belongs to process {self._pid} (a fork's parent);"
                " create a new event loop in the child")

    def _prep(self, op, *args, **kwargs) -> None:
        """Fill one SQE with ``op``; if the SQ is full, submit what is queued first."""
        try:
            op(self._ring, *args, **kwargs)
        except SubmissionQueueFull:
            self._ring.submit()
            op(self._ring, *args, **kwargs)

    def _disarm(self, fd: int) -> bool:
        """Queue a POLL_REMOVE for ``fd``'s armed poll, if any; True if one was queued."""
        ud = self._armed_ud.pop(fd, None)
        if ud is None:
            return False
        del self._armed[ud]
        if self._pid == os.getpid() and not self._ring.closed:
            self._prep(poll_remove, _REMOVE, ud)
        return True

    def _arm_all(self) -> None:
        keys, armed, armed_ud = self._keys, self._armed, self._armed_ud
        ud = self._next_ud
        for fd in self._to_arm:
            events = keys[fd].events
            mask = (_POLLIN if events & EVENT_READ else 0) | (_POLLOUT if events & EVENT_WRITE else 0)
            self._prep(poll_add, ud, fd, mask)
            armed[ud] = fd
            armed_ud[fd] = ud
            ud += 1
        self._next_ud = ud
        self._to_arm.clear()

    def select(self, timeout: float | None = None) -> list:
        """Arm what changed and wait for readiness: one ``io_uring_enter`` at most.

        ``timeout`` None waits until something is ready, ``<= 0`` only looks.
        Returns ``(key, events)`` pairs, as every selector does.
        """
        self._check_pid()
        ring = self._ring
        if self._requests:
            self._prep_requests()
        if self._to_arm:
            self._arm_all()
        if timeout is not None and timeout <= 0 or ring.cq_ready():
            if ring.sq_ready():
                ring.submit()
        elif timeout is None:
            ring.submit_and_wait(1)
            # An enter that submitted returns its count even when a signal cut
            # the wait short (the -EINTR is dropped): wait again, as PEP 475 asks.
            while not ring.cq_ready():
                ring.submit_and_wait(1)
        elif self.ext_arg:
            deadline = monotonic() + timeout
            ring.submit_and_wait(1, timeout)
            while not ring.cq_ready():
                timeout = deadline - monotonic()
                if timeout <= 0:
                    break
                ring.submit_and_wait(1, timeout)
        else:
            self._wait_with_timeout_op(timeout)
        return self._reap()

    def _wait_with_timeout_op(self, timeout: float) -> None:
        """Kernels before 5.11: a TIMEOUT request ends the wait (its CQE is dropped as stale)."""
        ud = self.new_user_data()
        self._prep(timeout_op, ud, timeout)
        while not self._ring.cq_ready():   # the timer guarantees a CQE
            self._ring.submit_and_wait(1)
        # Woken by something else, the timer must not end a later wait; if it
        # fired already this finds nothing (-ENOENT) and costs no extra enter.
        self._prep(timeout_remove, _REMOVE, ud)

    def _reap(self) -> list:
        ring = self._ring
        cqes = ring.copy_cqes_raw()
        if not cqes:
            return []
        armed, armed_ud, keys, to_arm = self._armed, self._armed_ud, self._keys, self._to_arm
        handlers = self._completion_handlers
        ready = []
        errors = []
        while True:
            for ud, res, flags in cqes:
                fd = armed.pop(ud, None)
                if fd is None:
                    handler = handlers.get(ud)
                    if handler is not None:
                        if not flags & _F_MORE:
                            del handlers[ud]
                        try:
                            handler(res, flags)
                        except BaseException as e:
                            # The batch is already off the CQ ring: finish it,
                            # or the other requests' completions would be lost.
                            errors.append(e)
                    continue
                del armed_ud[fd]
                key = keys[fd]
                to_arm.add(fd)
                if res < 0:
                    if res == -errno.ECANCELED:
                        continue  # cancelled by the kernel (not by us): just re-arm
                    # -EBADF and the like: report it to everyone waiting, as
                    # poll(2)'s POLLNVAL would, so the callback meets the error.
                    ready.append((key, key.events))
                    continue
                events = 0
                if res & _NOT_IN:
                    events |= EVENT_WRITE
                if res & _NOT_OUT:
                    events |= EVENT_READ
                events &= key.events
                if events:
                    ready.append((key, events))
            # A full CQ ring may hide more (the kernel's overflow list): keep
            # copying until it is empty, so nothing waits for the next wake-up.
            if len(cqes) < ring.cq_entries:
                break
            cqes = ring.copy_cqes_raw()
            if not cqes:
                break
        if errors:
            raise errors[0]
        return ready

    # -- completion requests sharing the ring -----------------------------------------

    def new_user_data(self, handler=None) -> int:
        """A fresh ``user_data`` whose CQEs :meth:`select` passes to ``handler(res, flags)``.

        For completion requests sharing the ring with the polls; the handler
        is forgotten after the request's final CQE (one without
        ``IORING_CQE_F_MORE``). Without a handler the CQEs are dropped.
        """
        ud = self._next_ud
        self._next_ud = ud + 1
        if handler is not None:
            self._completion_handlers[ud] = handler
        return ud

    def request(self, future, op, user_data: int, *args, **kwargs) -> None:
        """Queue ``op(ring, user_data, *args, **kwargs)`` for the next :meth:`select`.

        ``future`` is the waiter for the result. It is looked at just before
        the SQE is filled: a request whose future is done by then (cancelled)
        never reaches the kernel, so it cannot complete after a later request
        queued behind it (a cancelled send must not overtake the next one);
        if ``op`` refuses its arguments, the error goes to the future.
        """
        self._requests.append((future, op, user_data, args, kwargs))

    def _prep_requests(self) -> None:
        requests, self._requests = self._requests, []
        for future, op, ud, args, kwargs in requests:
            if future.done():
                self._completion_handlers.pop(ud, None)
                continue
            try:
                self._prep(op, ud, *args, **kwargs)
            except Exception as e:
                self._completion_handlers.pop(ud, None)
                future.set_exception(e)

    @property
    def ring(self) -> Ring:
        """The :class:`~uring.Ring` this selector submits to."""
        return self._ring

    def close(self) -> None:
        """Forget every registration and close the ring (the kernel cancels its polls).

        In a forked child nothing is submitted: the ring is the parent's, and
        only the child's reference to it is dropped.
        """
        self._keys.clear()
        self._armed.clear()
        self._armed_ud.clear()
        self._to_arm.clear()
        self._completion_handlers.clear()
        self._requests.clear()
        self._ring.close()
