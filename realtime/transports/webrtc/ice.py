"""Where a call's ICE candidates come from: addresses, UDP ports, a NAT's public address.

:class:`IcePolicy` is read from the ``webrtc_*`` settings. :meth:`IcePolicy.configuration`
gives the peer connection its STUN/TURN servers (none unless configured: aiortc would
otherwise ask Google's public STUN server). :meth:`IcePolicy.apply` installs the policy on
a peer connection between ``setRemoteDescription`` and ``setLocalDescription`` (where
aiortc gathers).

aioice (aiortc's ICE) offers host candidates on every non-loopback interface, each on an
ephemeral port, and has no option to change that. When the policy names addresses, a
port range or a public address, :meth:`IcePolicy.apply` replaces, per connection, aioice's
``Connection.get_component_candidates`` (the step that binds the host sockets) with
:func:`_gather`: it binds one UDP socket per configured address (in the port range when
one is set), announces the public address on each host port as a server-reflexive
candidate (a 1:1 NAT keeps the port), and leaves STUN and TURN to aioice's own helpers.
It relies on aioice 0.13's ``StunProtocol``, ``Connection._protocols`` and aiortc 1.16's
``RTCIceGatherer._connection``: the loopback tests in ``tests/realtime/test_webrtc.py``
exercise it, so an upgrade that changes them fails there. Without any of the three
settings aioice gathers as it always does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote

from aioice import Candidate, turn
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import Connection, StunProtocol, server_reflexive_candidate
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcicetransport import RTCIceTransport

log = logging.getLogger(__name__)

GATHER_TIMEOUT_S = 5.0
"""Longest wait for a STUN or TURN server's candidate (aioice's own default)."""

Gather = Callable[..., Awaitable[list[Candidate]]]


@dataclass(frozen=True, slots=True)
class IcePolicy:
    """How the server's side of a call gathers ICE candidates.

    Attributes:
        addresses: Local IP addresses for host candidates (empty: aioice's choice, every
            non-loopback interface).
        ports: Local UDP ports to bind host candidates in (None: ephemeral ports).
        public_address: The address clients reach this host at through a 1:1 NAT,
            announced on each host candidate's port (None: not behind such a NAT).
        servers: STUN and TURN servers (aioice uses the first of each kind).
    """

    addresses: tuple[str, ...] = ()
    ports: range | None = None
    public_address: str | None = None
    servers: tuple[RTCIceServer, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> IcePolicy:
        """The policy the ``webrtc_*`` settings describe (already validated)."""
        ports = None
        if settings.webrtc_port_min is not None and settings.webrtc_port_max is not None:
            ports = range(settings.webrtc_port_min, settings.webrtc_port_max + 1)
        return cls(
            addresses=tuple(settings.webrtc_ice_addresses),
            ports=ports,
            public_address=settings.webrtc_public_address,
            servers=tuple(ice_server(url) for url in settings.webrtc_ice_servers),
        )

    @property
    def custom(self) -> bool:
        """Whether host candidates are gathered here rather than by aioice."""
        return bool(self.addresses or self.ports is not None or self.public_address)

    def configuration(self) -> RTCConfiguration:
        """The peer connection's configuration (an empty server list means no STUN)."""
        return RTCConfiguration(iceServers=list(self.servers))

    def apply(self, pc: RTCPeerConnection) -> None:
        """Gather ``pc``'s candidates by this policy (call before ``setLocalDescription``)."""
        if not self.custom:
            return
        for transport in _ice_transports(pc):
            connection: Connection = transport.iceGatherer._connection
            original = connection.get_component_candidates
            gather = partial(_gather, connection, self, original)
            setattr(connection, "get_component_candidates", gather)  # noqa: B010 (per instance)


def ice_server(url: str) -> RTCIceServer:
    """An :class:`RTCIceServer` from a URL; ``turn:user:password@host`` carries credentials."""
    scheme, _, rest = url.partition(":")
    if "@" not in rest:
        return RTCIceServer(urls=url)
    credentials, _, address = rest.rpartition("@")
    username, _, password = credentials.partition(":")
    return RTCIceServer(
        urls=f"{scheme}:{address}", username=unquote(username), credential=unquote(password)
    )


def _ice_transports(pc: RTCPeerConnection) -> list[RTCIceTransport]:
    """The ICE transports of ``pc``'s transceivers and data channels (bundled ones once)."""
    found: dict[int, RTCIceTransport] = {}
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport.transport
        found[id(transport)] = transport
    if pc.sctp is not None:
        found[id(pc.sctp.transport.transport)] = pc.sctp.transport.transport
    return list(found.values())


async def _gather(
    connection: Connection,
    policy: IcePolicy,
    original: Gather,
    component: int,
    addresses: list[str],
) -> list[Candidate]:
    """Replaces ``connection.get_component_candidates``: one component's candidates.

    ``addresses`` is aioice's enumeration, used when the policy names none.
    """
    protocols = []
    for address in policy.addresses or addresses:
        protocol = await _bind(connection, component, address, policy.ports)
        if protocol is not None:
            protocols.append(protocol)
    connection._protocols += protocols
    hosts = [protocol.local_candidate for protocol in protocols]
    candidates = list(hosts)
    if policy.public_address is not None:
        candidates += [_public(host, policy.public_address) for host in _same_family(hosts, policy)]
    candidates += await _from_servers(connection, protocols, original, component)
    return candidates


async def _bind(
    connection: Connection, component: int, address: str, ports: range | None
) -> StunProtocol | None:
    """A host candidate's socket on ``address`` (a free port of ``ports``); None if none."""
    loop = asyncio.get_running_loop()
    for port in _port_order(ports):
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: StunProtocol(connection), local_addr=(address, port)
            )
        except OSError:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
        host, bound = transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=bound,
            type="host",
        )
        return protocol
    where = "any port" if ports is None else f"ports {ports.start}-{ports.stop - 1}"
    log.warning("WebRTC: no host candidate on %s: could not bind UDP on %s", address, where)
    return None


def _port_order(ports: range | None) -> Sequence[int]:
    """The ports to try: ephemeral, or the range from a random point (calls spread out)."""
    if ports is None:
        return (0,)
    start = random.randrange(len(ports))
    return [*ports[start:], *ports[:start]]


def _same_family(hosts: list[Candidate], policy: IcePolicy) -> list[Candidate]:
    assert policy.public_address is not None
    version = ipaddress.ip_address(policy.public_address).version
    return [h for h in hosts if ipaddress.ip_address(h.host).version == version]


def _public(host: Candidate, address: str) -> Candidate:
    """``address`` on ``host``'s port: what a client behind the 1:1 NAT's far side reaches."""
    return Candidate(
        foundation=candidate_foundation("srflx", "udp", host.host),
        component=host.component,
        transport="udp",
        priority=candidate_priority(host.component, "srflx"),
        host=address,
        port=host.port,
        type="srflx",
        related_address=host.host,
        related_port=host.port,
    )


async def _from_servers(
    connection: Connection,
    protocols: list[StunProtocol],
    original: Gather,
    component: int,
) -> list[Candidate]:
    """Server-reflexive candidates from the STUN server, the relay one from TURN (aioice)."""
    jobs: list[asyncio.Task[Any]] = []
    stun_server = connection.stun_server
    if stun_server is not None:
        for protocol in protocols:
            if ipaddress.ip_address(protocol.local_candidate.host).version == 4:
                jobs.append(
                    asyncio.ensure_future(server_reflexive_candidate(protocol, stun_server))
                )
    if connection.turn_server is not None:  # aioice with no host address asks TURN only
        jobs.append(asyncio.ensure_future(original(component=component, addresses=[])))
    if not jobs:
        return []
    done, pending = await asyncio.wait(jobs, timeout=GATHER_TIMEOUT_S)
    for job in pending:
        job.cancel()
    found: list[Candidate] = []
    for job in done:
        if job.exception() is not None:
            continue
        result = job.result()
        found += result if isinstance(result, list) else [result[0]]
    return found
