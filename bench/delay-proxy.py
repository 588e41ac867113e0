#!/usr/bin/env python3
"""Adds a fixed one-way delay in each direction of a TCP connection (bench/nonfs.sh, RTT_MS; this
kernel has no sch_netem). Order is kept, bandwidth is not limited, bytes already due go out together.
  delay-proxy.py HOST PORT ONEWAY_MS                       ssh ProxyCommand (stdin/stdout), as
                                                            ../shared/bench/delay-relay.py
  delay-proxy.py --listen ADDR:PORT TARGET:PORT ONEWAY_MS   TCP relay for each connection it accepts
One thread and one event loop, not delay-relay.py's four threads, whose hand-offs through the GIL
held a bulk copy to a few MB/s; select(), not epoll, whose timeout is whole milliseconds."""
import asyncio, collections, os, selectors, socket, sys


class Leg(asyncio.Protocol):
    """One direction: what its transport reads is written to `out` `delay` seconds later."""

    def __init__(self, loop, delay, ended):
        self.loop, self.delay, self.ended = loop, delay, ended
        self.transport = self.out = self.peer = None
        self.queue, self.timer, self.early, self.eof = collections.deque(), None, [], False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self._push(data)

    def eof_received(self):
        self._push(None)
        return True  # half-close: the other direction goes on until it ends too

    def connection_lost(self, exc):
        self._push(None)

    def attach(self, out, peer):
        """out: where this leg writes; peer: the leg reading the far side (paused when out is full)."""
        self.out, self.peer = out, peer
        early, self.early = self.early, []
        for data in early:
            self._push(data)

    def _push(self, data):
        if self.eof:
            return
        self.eof = data is None
        if self.out is None:  # bytes that came before the far side's connection was made
            self.early.append(data)
        elif self.delay == 0 and not self.queue:
            self._write(data)
        else:
            self.queue.append((self.loop.time() + self.delay, data))
            if self.timer is None:
                self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self):
        self.timer, now, chunks = None, self.loop.time(), []
        while self.queue and self.queue[0][0] <= now:
            data = self.queue.popleft()[1]
            if data is None:
                self._write(b"".join(chunks))
                self._write(None)
                return
            chunks.append(data)
        self._write(b"".join(chunks))
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _write(self, data):
        if data is None:
            if not self.out.is_closing():
                self.out.write_eof() if self.out.can_write_eof() else self.out.close()
            self.ended()
        elif data and not self.out.is_closing():
            self.out.write(data)

    # Flow control: the transport this protocol reads is also the one `peer` writes to.
    def pause_writing(self):
        self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.transport.resume_reading()


class PipeOut(asyncio.Protocol):
    """stdout's protocol: a full pipe stops reading the socket."""

    def __init__(self, source):
        self.source = source

    def pause_writing(self):
        self.source.transport.pause_reading()

    def resume_writing(self):
        self.source.transport.resume_reading()


async def stdio(loop, host, port, delay):
    finished, ends = loop.create_future(), []

    def ended():
        ends.append(1)
        if len(ends) == 2 and not finished.done():
            finished.set_result(None)

    up, down = Leg(loop, delay, ended), Leg(loop, delay, ended)  # stdin to socket, socket to stdout
    await loop.connect_read_pipe(lambda: up, os.fdopen(0, "rb", 0))
    stdout, _ = await loop.connect_write_pipe(lambda: PipeOut(down), os.fdopen(1, "wb", 0))
    await loop.create_connection(lambda: down, host, int(port))
    up.attach(down.transport, down)
    down.attach(stdout, up)
    await finished


class Accepted(Leg):
    """An accepted connection's leg (client to target): it connects to the target and joins the two."""

    def __init__(self, loop, delay, target):
        super().__init__(loop, delay, self._one_ended)
        self.target, self.ends = target, 0
        self.back = Leg(loop, delay, self._one_ended)

    def _one_ended(self):
        self.ends += 1
        if self.ends == 2:
            self.transport.close()
            if self.back.transport is not None:
                self.back.transport.close()

    def connection_made(self, transport):
        super().connection_made(transport)
        self.loop.create_task(self._connect())

    async def _connect(self):
        try:
            await self.loop.create_connection(lambda: self.back, *self.target)
        except OSError:
            self.transport.close()
            return
        self.attach(self.back.transport, self.back)
        self.back.attach(self.transport, self)


async def listen(loop, addr, target, delay):
    lhost, lport = addr.rsplit(":", 1)
    thost, tport = target.rsplit(":", 1)
    server = await loop.create_server(lambda: Accepted(loop, delay, (thost, int(tport))),
                                      lhost, int(lport), reuse_address=True, backlog=64)
    async with server:
        await server.serve_forever()


def main(args):
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    if args[0] == "--listen" and len(args) == 4:
        loop.run_until_complete(listen(loop, args[1], args[2], float(args[3]) / 1000.0))
    elif len(args) == 3:
        loop.run_until_complete(stdio(loop, args[0], args[1], float(args[2]) / 1000.0))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
