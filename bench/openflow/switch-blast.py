#!/usr/bin/env python3
"""UDP blaster for bench/openflow/switch.sh: sends 18-byte UDP payloads (60-byte Ethernet frames) to ADDRESS:9 as fast
as it can for SECONDS or COUNT datagrams, whichever comes first; prints how many it sent. Full queues drop (that is the
point: the switch behind the interface takes what it can)."""
import errno
import socket
import sys
import time

address, seconds, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
s.connect((address, 9))
payload = b"u" * 18
send = s.send
sent = 0
deadline = time.monotonic() + seconds
while sent < count and time.monotonic() < deadline:
    for _ in range(2000):
        try:
            send(payload)
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.ECONNREFUSED):
                raise
    sent += 2000
print(sent)
