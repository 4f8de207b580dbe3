"""Framing between the client and a run's init (both our code).

A JSON header (4-byte length) followed by raw byte blobs whose names and sizes
the header lists.
"""

from __future__ import annotations

import json
import socket
import struct


def send_msg(sock: socket.socket, header: dict, blobs: dict[str, bytes] | None = None) -> None:
    blobs = blobs or {}
    head = dict(header, _blobs=[[k, len(v)] for k, v in blobs.items()])
    data = json.dumps(head).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)
    for v in blobs.values():
        if v:
            sock.sendall(v)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    if n == 0:
        return b""
    data = sock.recv(n, socket.MSG_WAITALL)  # one allocation of n bytes, no copies
    if len(data) == n:
        return data
    if not data:
        return None
    parts = [data]
    got = len(data)
    while got < n:
        chunk = sock.recv(n - got, socket.MSG_WAITALL)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_msg(sock: socket.socket) -> tuple[dict, dict[str, bytes]] | None:
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack("!I", head)
    if n > 16 * 1024 * 1024:
        return None
    raw = _recv_exact(sock, n)
    if raw is None:
        return None
    header = json.loads(raw)
    if sock.gettimeout() is not None:
        # blobs follow the header at once: read them blocking (one allocation each, no partial reads
        # and re-allocations), bounded by a kernel receive timeout instead
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 30, 0))
    blobs: dict[str, bytes] = {}
    for name, size in header.pop("_blobs", []):
        data = _recv_exact(sock, int(size))
        if data is None:
            return None
        blobs[name] = data
    return header, blobs
