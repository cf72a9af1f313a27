#!/usr/bin/env python3
"""OpenFlow capture relay: listens on a Unix socket, relays each connection to another Unix socket (an ovs-vswitchd
management socket) and prints every whole message as '<direction> <hex>' ('>' client to switch, '<' back).
Usage: relay.py LISTEN_PATH TARGET_PATH OUTPUT_FILE SECONDS   (exits after SECONDS)."""
import os, select, socket, sys, time

listen_path, target_path, output_path, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if os.path.exists(listen_path):
    os.unlink(listen_path)
server = socket.socket(socket.AF_UNIX)
server.bind(listen_path)
server.listen(8)
out = open(output_path, "a", buffering=1)
pairs = {}  # socket -> (peer, direction, buffer)
deadline = time.time() + seconds
while time.time() < deadline:
    ready, _, _ = select.select([server] + list(pairs), [], [], 0.2)
    for s in ready:
        if s is server:
            client, _ = server.accept()
            switch = socket.socket(socket.AF_UNIX)
            switch.connect(target_path)
            pairs[client] = [switch, ">", b""]
            pairs[switch] = [client, "<", b""]
            continue
        if s not in pairs:
            continue
        data = s.recv(65536)
        peer, direction, buffer = pairs[s]
        if not data:
            for x in (s, peer):
                pairs.pop(x, None)
                x.close()
            continue
        peer.sendall(data)
        buffer += data
        while len(buffer) >= 4:
            length = int.from_bytes(buffer[2:4], "big")
            if length < 8 or len(buffer) < length:
                break
            out.write(f"{direction} {buffer[:length].hex()}\n")
            buffer = buffer[length:]
        pairs[s][2] = buffer
