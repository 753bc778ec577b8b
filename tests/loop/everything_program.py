"""An ordinary asyncio program touching streams, a subprocess, a signal, UDP and threads.

Nothing in it knows about io_uring: ``test_program.py`` runs it unchanged on
the default loop and on uring.loop. It prints one line per feature, then
the loop class it ran on.
"""

import asyncio
import os
import signal
import sys
import threading


async def streams() -> str:
    async def echo(reader, writer):
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello streams\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
    return line.decode().strip()


async def subprocess() -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1])",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate(b"ssecorpbus")
    return f"{out.decode()} exit={proc.returncode}"


async def signal_handler() -> str:
    loop = asyncio.get_running_loop()
    got = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, got.set_result, "SIGUSR1")
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        return await asyncio.wait_for(got, 5)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data[::-1], addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self, done):
        self.done = done

    def datagram_received(self, data, addr):
        self.done.set_result(data)


async def udp() -> str:
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    done = loop.create_future()
    client, _ = await loop.create_datagram_endpoint(
        lambda: Client(done), remote_addr=server.get_extra_info("sockname"))
    client.sendto(b"pdu")
    try:
        return (await asyncio.wait_for(done, 5)).decode()
    finally:
        client.close()
        server.close()


async def executor() -> str:
    loop = asyncio.get_running_loop()
    name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
    return "worker thread" if name != threading.main_thread().name else "main thread?!"


async def main() -> None:
    for feature in (streams, subprocess, signal_handler, udp, executor):
        print(f"{feature.__name__}: {await feature()}", flush=True)
    print(f"loop: {type(asyncio.get_running_loop()).__module__}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
