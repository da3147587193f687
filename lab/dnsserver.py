"""The lab's authoritative DNS server: serves the zone store over UDP and TCP.

It answers for the zones delegated in the zone store (the provider fakes write them) and
for static lab records (hosts, reverse PTRs, the DNSBL), with the AA flag; NXDOMAIN and
NODATA carry the zone's SOA; names outside every served zone are REFUSED.

Command line (the lab runs it in its own network namespace)::

    python -m lab.dnsserver --db var/lab/zones.sqlite3 --listen 10.200.0.2 --port 53

In-process::

    with DnsServer(db_path, "127.0.0.1", 0) as dns_server:
        resolver.nameservers, resolver.port = [dns_server.host], dns_server.port
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import cast

import dns.exception
import dns.message
import dns.rdatatype

from lab.dnsserver_answer import build_response, question_name
from lab.dnsserver_data import DEFAULT_STATIC_ZONES, Snapshot
from lab.dnsserver_loop import LoopThread, serve_until_signalled

log = logging.getLogger(__name__)

UDP_PLAIN_LIMIT = 512  # RFC 1035: without EDNS a UDP answer fits in 512 bytes or sets TC
TCP_LIMIT = 65535
TCP_IDLE_SECONDS = 30
QUERY_LOG_SIZE = 10_000


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.server.handle(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """Authoritative server over the zone store at `db_path`; port 0 picks a free port."""

    def __init__(
        self,
        db_path: str | Path,
        host: str = "127.0.0.1",
        port: int = 53,
        *,
        static_zones: tuple[str, ...] = DEFAULT_STATIC_ZONES,
        ns_name: str = "ns.lab",
    ) -> None:
        self.db_path = Path(db_path)
        self.host, self.port = host, port
        self.static_zones = static_zones
        self.ns_name = ns_name.rstrip(".")
        # (transport, name, type) of each query, so tests can prove who asked what.
        self.queries: deque[tuple[str, str, str]] = deque(maxlen=QUERY_LOG_SIZE)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._loop_thread: LoopThread | None = None

    # -- answering ---------------------------------------------------------------------

    def handle(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one wire-format query, or None for garbage we cannot answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.question:
            rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
            self.queries.append((transport, question_name(query), rdtype))
        response = self.respond(query)
        limit = TCP_LIMIT if transport == "tcp" else udp_limit(query)
        # prefer_truncation sets TC when the answer does not fit: the client retries on TCP.
        return response.to_wire(max_size=limit, prefer_truncation=True)

    def respond(self, query: dns.message.Message) -> dns.message.Message:
        try:
            with Snapshot(self.db_path, self.static_zones) as snapshot:
                return build_response(query, snapshot, self.ns_name)
        except sqlite3.Error as exc:
            log.warning("lab dns: zone store %s unreadable: %s", self.db_path, exc)
            return build_response(query, None, self.ns_name)

    # -- serving -----------------------------------------------------------------------

    async def start_async(self) -> None:
        """Bind UDP and TCP on the same port in the running loop."""
        loop = asyncio.get_running_loop()
        for _attempt in range(5):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                transport.close()  # port 0 gave a UDP port whose TCP twin is taken: retry
                if self.port:
                    raise
                continue
            self._udp, self.port = transport, port
            return
        raise OSError(f"no port free for both UDP and TCP on {self.host}")

    async def stop_async(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        self._udp = self._tcp = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_SECONDS):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    wire = await reader.readexactly(size)
                reply = self.handle(wire, "tcp")
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    def start(self) -> DnsServer:
        """Serve from a background thread (for tests); returns self."""
        self._loop_thread = LoopThread("lab-dns")
        self._loop_thread.start()
        self._loop_thread.call(self.start_async())
        return self

    def stop(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.call(self.stop_async())
            self._loop_thread.stop()
            self._loop_thread = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def udp_limit(query: dns.message.Message) -> int:
    if query.edns < 0:
        return UDP_PLAIN_LIMIT
    return max(UDP_PLAIN_LIMIT, min(query.payload, TCP_LIMIT))


async def serve_forever(server: DnsServer) -> None:
    log.info("lab dns: serving %s on %s:%s", server.db_path, server.host, server.port)
    await serve_until_signalled(server)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.dnsserver")
    parser.add_argument("--db", required=True, help="zone store SQLite file")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--static-zone", action="append", help="apex of static lab records")
    parser.add_argument("--ns-name", default="ns.lab", help="name server in synthesized SOA/NS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    zones = tuple(args.static_zone) if args.static_zone else DEFAULT_STATIC_ZONES
    server = DnsServer(args.db, args.listen, args.port, static_zones=zones, ns_name=args.ns_name)
    asyncio.run(serve_forever(server))


if __name__ == "__main__":
    main()
