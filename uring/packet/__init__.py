"""The packet receive lab: how fast each Linux receive path takes UDP frames.

A sender namespace and a receiver namespace joined by a veth pair
(:mod:`~uring.packet.netns`); a generator (:mod:`~uring.packet.gen`, frames
from :mod:`~uring.packet.frames`); and one small module per receive path,
each counting packets and bytes and checking every frame's sequence number:

========================  =====================================================
``rx_recvmmsg``           UDP socket + ``recvmmsg(2)``: the baseline
``rx_uring_recvmsg``      io_uring multishot RECVMSG into a buffer ring
``rx_uring_recv``         io_uring multishot RECV into a buffer ring
``rx_tpacket_v3``         AF_PACKET with a TPACKET_V3 ring read through mmap
``rx_uring_packet``       AF_PACKET read through io_uring
``rx_afxdp``              AF_XDP (copy mode): UMEM, rings, XDP program by bpf(2)
``rx_dpdk``               DPDK (``native_hot/dpdk_rx``) on the veth
``rx_zcrx``               io_uring zero-copy receive, up to what the NIC allows
========================  =====================================================

``python -m uring.packet`` runs one of them end to end;
``python -m uring.bench packets`` compares them all. The registry of paths
is :mod:`~uring.packet.stacks`.
"""
