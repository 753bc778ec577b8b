"""Two network namespaces joined by a veth pair: where the packet lab sends and receives.

::

    [ namespace <name>-tx ]                      [ namespace <name>-rx ]
      utx<tag>  10.201.0.1  ------ veth ------  urx<tag>  10.201.0.2
      TSO off (frames go out as sent)             GRO on, NAPI in a thread pinned
      generator pinned to tx CPUs                 to the rx CPUs, receiver there too

Why this setup: on a plain veth, the receive work (the peer's "NAPI" poll,
the IP/UDP stack) runs on the *sender's* CPU, inside its ``sendmsg``, so the
receiver never gets a core of its own. Turning GRO on makes veth queue frames
on a ring and poll them with NAPI; making that NAPI a kernel thread
(``/sys/class/net/<dev>/threaded``) and pinning it gives the receive path its
own CPU, as a real NIC's interrupt would. TSO off keeps the sender from
building super-frames.

**Several queues** (``queues=N``): veth hands a frame sent on its TX queue
*i* to the peer's RX queue *i*, so the TX queue decides. The generator's
AF_PACKET socket skips the qdisc (``PACKET_QDISC_BYPASS``), and the kernel
then picks the TX queue by the *sending CPU* (``packet_pick_tx_queue``
records ``cpu % N`` and ``skb_tx_hash`` returns it), whatever the frames
contain: one pinned generator feeds one queue. So the topology maps every
CPU to every TX queue through XPS (``queues/tx-<i>/xps_cpus``): with more
than one queue for the sending CPU, ``get_xps_queue`` picks among them by
the frame's flow hash (addresses and ports, ``skb_get_hash``), and frames of
different flows (``gen --flows``) spread over the queues.
:meth:`Topology.rx_queue_packets` reads the per-queue counters that show it.

Every run gets unique names (``uring-pkt-<pid>-<random>-tx``, ``utx<random>``),
so parallel runs and leftovers never collide, and the topology is always torn
down: by the context manager, on SIGTERM/SIGHUP (turned into ``SystemExit``),
and at interpreter exit. A run killed with SIGKILL leaves its namespaces
behind; ``python -m uring.packet.netns down --stale`` removes those whose
creating process is gone.

Command line::

    python -m uring.packet.netns up [--queues N]   # prints the names, keeps them
    python -m uring.packet.netns down NAME...       # or --stale, or --all
    python -m uring.packet.netns list
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from .. import _cli

__all__ = [
    "PREFIX", "TX_IP", "RX_IP", "TX_MAC", "RX_MAC", "TopologyError", "Topology",
    "check_prerequisites", "default_cpus", "list_namespaces", "remove_namespaces",
    "ns_exec", "main",
]

PREFIX = "uring-pkt"
TX_IP, RX_IP = "10.201.0.1", "10.201.0.2"
# Locally administered unicast addresses ("ur" = 0x75 0x72); both ends live in
# their own namespaces, so every run can use the same ones.
TX_MAC, RX_MAC = "02:75:72:00:00:01", "02:75:72:00:00:02"

_live: dict[str, "Topology"] = {}
_live_lock = threading.Lock()


class TopologyError(RuntimeError):
    """A command that builds or inspects the topology failed; the message has its stderr."""


def check_prerequisites() -> None:
    """Raise a clear error unless this process can build the topology.

    Network namespaces and veth devices need root (CAP_SYS_ADMIN and
    CAP_NET_ADMIN); the setup uses ``ip`` (iproute2) and ``ethtool``, which
    ``tools/setup-dev`` installs when run as root.
    """
    if os.geteuid() != 0:
        raise PermissionError(
            "the packet lab needs root: creating network namespaces and veth devices "
            "takes CAP_SYS_ADMIN and CAP_NET_ADMIN (run it with sudo, or as root in CI)")
    missing = [tool for tool in ("ip", "ethtool") if shutil.which(tool) is None]
    if missing:
        pkgs = " ".join("iproute2" if t == "ip" else t for t in missing)
        raise FileNotFoundError(
            f"the packet lab needs {' and '.join(missing)} on PATH: install the Debian "
            f"package(s) {pkgs} (tools/setup-dev does it when run as root: "
            f"apt-get install -y {pkgs})")


def default_cpus(queues: int = 1) -> tuple[list[int], list[int]]:
    """Pick (tx CPUs, rx CPUs) from this process's allowed CPUs.

    The generator gets the first CPU and the receive side (NAPI threads and
    the receiver) the next ``queues``; with a single CPU both share it.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) == 1:
        return cpus, cpus
    rx = cpus[1:1 + queues] or cpus[1:2]
    return cpus[:1], rx


def _run(argv: list[str], *, check: bool = True, input: str | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, input=input,
                             timeout=timeout)
    except FileNotFoundError as e:
        check_prerequisites()  # names the missing package
        raise TopologyError(f"{argv[0]}: {e}") from e
    if check and out.returncode != 0:
        raise TopologyError(f"`{' '.join(argv)}` failed ({out.returncode}): "
                            f"{(out.stderr or out.stdout).strip()}")
    return out


def ns_exec(ns: str, argv: list[str]) -> list[str]:
    """``argv`` prefixed so it runs inside namespace ``ns``.

    ``ip netns exec`` also mounts a fresh ``/sys`` that shows the namespace's
    own devices, which ``ethtool``, DPDK and the NAPI switch rely on.
    """
    return ["ip", "netns", "exec", ns, *argv]


def list_namespaces() -> list[str]:
    """Names of the packet lab's namespaces that exist now (any run's)."""
    out = _run(["ip", "netns", "list"], check=False)
    names = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX + "-")]


def _pids_in(ns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in out.stdout.split() if p.isdigit()]


def remove_namespaces(names: list[str]) -> None:
    """Delete these namespaces, stopping any process still inside first.

    Only this lab's namespaces are touched (their names start with
    :data:`PREFIX`), so the processes inside were started by the lab. A
    namespace lives on while a process is in it, and its veth with it.
    """
    for ns in names:
        if not ns.startswith(PREFIX + "-"):
            raise ValueError(f"{ns!r} is not a packet-lab namespace (prefix {PREFIX}-)")
    for ns in names:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _pids_in(ns)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2
            while pids and time.monotonic() < deadline:
                time.sleep(0.02)
                pids = _pids_in(ns)
            if not pids:
                break
        _run(["ip", "netns", "del", ns], check=False)


def _stale(ns: str) -> bool:
    m = re.match(rf"{PREFIX}-(\d+)-", ns)
    if not m:
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Topology:
    """A sender and a receiver namespace joined by a veth pair, with the receive-core setup.

    Use as a context manager (``with Topology() as topo:``); :meth:`up` and
    :meth:`down` do the same by hand. ``queues`` gives both veth ends that
    many RX/TX queues (one NAPI thread per RX queue, spread over
    ``rx_cpus``). ``keep=True`` skips the automatic teardown at exit (the
    ``up`` command uses it). The attributes name everything a run needs.
    """

    queues: int = 1
    tx_cpus: list[int] | None = None
    rx_cpus: list[int] | None = None
    keep: bool = False
    mtu: int = 1500
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    tx_ns: str = ""
    rx_ns: str = ""
    tx_dev: str = ""
    rx_dev: str = ""
    tx_ip: str = TX_IP
    rx_ip: str = RX_IP
    tx_mac: str = TX_MAC
    rx_mac: str = RX_MAC
    rx_ifindex: int = 0
    napi_pids: list[int] = field(default_factory=list)
    is_up: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.queues, int) or not 1 <= self.queues <= 64:
            raise ValueError(f"queues must be an int in 1..64, not {self.queues!r}")
        if not re.fullmatch(r"[0-9a-f]{1,6}", self.tag):
            raise ValueError(f"tag must be 1-6 lowercase hex digits, not {self.tag!r}")
        if not 68 <= self.mtu <= 9000:
            raise ValueError(f"mtu must be in 68..9000, not {self.mtu!r}")
        tx, rx = default_cpus(self.queues)
        self.tx_cpus = list(self.tx_cpus) if self.tx_cpus is not None else tx
        self.rx_cpus = list(self.rx_cpus) if self.rx_cpus is not None else rx
        owner = "keep" if self.keep else str(os.getpid())
        base = f"{PREFIX}-{owner}-{self.tag}"
        self.tx_ns, self.rx_ns = base + "-tx", base + "-rx"
        # Device names must be unique machine-wide although they live in
        # namespaces: the NAPI kernel thread is named after the device
        # ("napi/urx<tag>-<id>") and kernel threads are global.
        self.tx_dev, self.rx_dev = "utx" + self.tag, "urx" + self.tag

    # -- building -----------------------------------------------------------------

    def up(self) -> "Topology":
        """Create the namespaces, the veth pair and the receive-core setup."""
        if self.is_up:
            return self
        check_prerequisites()
        with _live_lock:
            _live[self.tx_ns] = self
        _install_teardown_hooks()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        self.is_up = True
        return self

    def _build(self) -> None:
        q = str(self.queues)
        for ns in (self.tx_ns, self.rx_ns):
            _run(["ip", "netns", "add", ns])
            # No IPv6 at all: its link-local address, router and neighbour
            # solicitations would be stray frames on a link we count frames on.
            _run(ns_exec(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                              "net.ipv6.conf.default.disable_ipv6=1"]))
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Both ends are created directly inside their namespaces: the names
        # never appear in the root namespace, even briefly.
        _run(["ip", "link", "add", self.tx_dev, "address", self.tx_mac, "mtu", str(self.mtu),
              "numtxqueues", q, "numrxqueues", q, "netns", self.tx_ns, "type", "veth",
              "peer", "name", self.rx_dev, "address", self.rx_mac, "mtu", str(self.mtu),
              "numtxqueues", q, "numrxqueues", q, "netns", self.rx_ns])
        for ns, dev, ip, peer_ip, peer_mac in (
                (self.tx_ns, self.tx_dev, self.tx_ip, self.rx_ip, self.rx_mac),
                (self.rx_ns, self.rx_dev, self.rx_ip, self.tx_ip, self.tx_mac)):
            _run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev])
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            # Static neighbours: no ARP exchange before the first frame.
            _run(["ip", "-n", ns, "neigh", "replace", peer_ip, "lladdr", peer_mac,
                  "dev", dev, "nud", "permanent"])
        _run(ns_exec(self.tx_ns, ["ethtool", "-K", self.tx_dev, "tso", "off"]))
        if self.queues > 1:
            self._spread_tx_by_flow()
        # GRO on gives veth's receive side a NAPI context (a ring + poll loop)...
        _run(ns_exec(self.rx_ns, ["ethtool", "-K", self.rx_dev, "gro", "on"]))
        # ...and only then can that NAPI become a thread (EIO before).
        _run(ns_exec(self.rx_ns, ["sh", "-c", f"echo 1 > /sys/class/net/{self.rx_dev}/threaded"]))
        self.napi_pids = self._pin_napi_threads()
        self.rx_ifindex = self.ifindex(self.rx_ns, self.rx_dev)

    def _spread_tx_by_flow(self) -> None:
        # Every CPU may use every TX queue: get_xps_queue then chooses by flow
        # hash instead of the sending CPU (see the module docstring).
        ncpu = os.cpu_count() or 1
        mask = f"{(1 << ncpu) - 1:x}"
        # A cpumask in sysfs is hex in 32-bit words separated by commas.
        words = [mask[max(i - 8, 0):i] for i in range(len(mask), 0, -8)][::-1]
        paths = " ".join(f"/sys/class/net/{self.tx_dev}/queues/tx-{i}/xps_cpus"
                         for i in range(self.queues))
        _run(ns_exec(self.tx_ns, ["sh", "-c", f"for f in {paths}; do echo {','.join(words)} "
                                              f"> $f || exit 1; done"]))

    def rx_queue_packets(self) -> list[int]:
        """Frames each RX queue of the receiving end has taken so far (``ethtool -S``).

        veth counts every frame its NAPI poll takes off queue *i*'s ring as
        ``rx_queue_<i>_xdp_packets``, with or without an XDP program (the
        name is historical); differences between two calls show where a
        run's frames went.
        """
        out = _run(ns_exec(self.rx_ns, ["ethtool", "-S", self.rx_dev])).stdout
        counts = [0] * self.queues
        for line in out.splitlines():
            m = re.fullmatch(r"\s*rx_queue_(\d+)_xdp_packets:\s*(\d+)\s*", line)
            if m and int(m.group(1)) < self.queues:
                counts[int(m.group(1))] = int(m.group(2))
        return counts

    def _pin_napi_threads(self) -> list[int]:
        want = f"napi/{self.rx_dev}-"
        deadline = time.monotonic() + 5
        while True:
            pids = []
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        with open(f"/proc/{entry}/comm") as f:
                            if f.read().startswith(want):
                                pids.append(int(entry))
                    except OSError:
                        continue
            if len(pids) >= self.queues or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not pids:
            raise TopologyError(f"no NAPI thread {want}* appeared after enabling threaded NAPI")
        for i, pid in enumerate(sorted(pids)):
            os.sched_setaffinity(pid, {self.rx_cpus[i % len(self.rx_cpus)]})
        return sorted(pids)

    @staticmethod
    def ifindex(ns: str, dev: str) -> int:
        """The interface index of ``dev`` inside namespace ``ns``."""
        out = _run(["ip", "-n", ns, "-j", "link", "show", "dev", dev])
        return int(json.loads(out.stdout)[0]["ifindex"])

    def link_info(self, side: str = "rx") -> dict:
        """``ip -d -j link show`` of one end (``"rx"`` or ``"tx"``), as a dict."""
        ns, dev = (self.rx_ns, self.rx_dev) if side == "rx" else (self.tx_ns, self.tx_dev)
        out = _run(["ip", "-n", ns, "-d", "-j", "link", "show", "dev", dev])
        return json.loads(out.stdout)[0]

    def xdp_attached(self) -> bool:
        """Whether an XDP program is attached to the receiving end right now."""
        return "xdp" in self.link_info("rx")

    def rx_exec(self, argv: list[str]) -> list[str]:
        """``argv`` prefixed to run in the receiver namespace."""
        return ns_exec(self.rx_ns, argv)

    def tx_exec(self, argv: list[str]) -> list[str]:
        """``argv`` prefixed to run in the sender namespace."""
        return ns_exec(self.tx_ns, argv)

    def describe(self) -> dict:
        """Everything about this topology as plain data (for printing and JSON)."""
        return asdict(self)

    # -- teardown -----------------------------------------------------------------

    def down(self) -> None:
        """Remove both namespaces (and so the veth pair). Safe to call more than once."""
        with _live_lock:
            _live.pop(self.tx_ns, None)
        existing = set(list_namespaces())
        # Deleting one end of a veth deletes both, even while a process keeps
        # the namespace alive.
        if self.rx_ns in existing:
            _run(["ip", "-n", self.rx_ns, "link", "del", self.rx_dev], check=False)
        remove_namespaces([ns for ns in (self.tx_ns, self.rx_ns) if ns in existing])
        self.is_up = False
        self.napi_pids = []

    def __enter__(self) -> "Topology":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()


# -- always tear down --------------------------------------------------------------

_hooks_installed = False


def _teardown_all() -> None:
    with _live_lock:
        live = [t for t in _live.values() if not t.keep]
    for topo in live:
        try:
            topo.down()
        except Exception as e:  # at exit: report, keep going with the others
            print(f"uring.packet.netns: teardown of {topo.tx_ns} failed: {e}", file=sys.stderr)


def _on_signal(signum, frame) -> None:
    # SystemExit unwinds through every `with Topology()` and finally block,
    # so the namespaces go away exactly as on a normal exit.
    raise SystemExit(128 + signum)


def _install_teardown_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_teardown_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            # Leave a handler the program chose alone.
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


# -- command line ------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m uring.packet.netns up|down|list``."""
    ap = _cli.make_parser("python -m uring.packet.netns", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="create a topology and keep it (prints its names)")
    p_up.add_argument("--queues", type=int, default=1, help="RX/TX queues per veth end")
    p_up.add_argument("--json", action="store_true", help="print JSON instead of shell")
    p_down = sub.add_parser("down", help="remove topologies")
    p_down.add_argument("names", nargs="*", help="namespace names (either end) to remove")
    p_down.add_argument("--stale", action="store_true",
                        help="remove those whose creating process is gone")
    p_down.add_argument("--all", action="store_true", help="remove every packet-lab namespace")
    sub.add_parser("list", help="list packet-lab namespaces")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            topo = Topology(queues=args.queues, keep=True).up()
            info = topo.describe()
            if args.json:
                print(json.dumps(info))
            else:
                for key, value in info.items():
                    if isinstance(value, list):
                        value = ",".join(map(str, value))
                    print(f"{key.upper()}={value}")
            return 0
        check_prerequisites()
        names = list_namespaces()
        if args.cmd == "list":
            for ns in names:
                print(ns)
            return 0
        if args.all:
            victims = names
        elif args.stale:
            victims = [ns for ns in names if _stale(ns)]
        else:
            if not args.names:
                ap.error("down needs namespace names, --stale or --all")
            bases = {re.sub(r"-(tx|rx)$", "", n) for n in args.names}
            victims = [ns for ns in names if re.sub(r"-(tx|rx)$", "", ns) in bases]
            unknown = bases - {re.sub(r"-(tx|rx)$", "", ns) for ns in victims}
            if unknown:
                print(f"no such packet-lab namespace: {', '.join(sorted(unknown))}",
                      file=sys.stderr)
                return 1
        for ns in victims:
            if ns.endswith("-rx"):
                dev = "urx" + ns.rsplit("-", 2)[-2]
                _run(["ip", "-n", ns, "link", "del", dev], check=False)
        remove_namespaces(victims)
        for ns in victims:
            print(f"removed {ns}")
        return 0
    except (PermissionError, FileNotFoundError, TopologyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
