#!/usr/bin/python3
"""Hostile traffic against the direct stack over a tap, with scapy (Debian: python3-scapy).

Run it inside the network namespace that holds the tap's kernel side. Every mode is bounded in time and count and
prints one summary line ("sent N ..."). Modes:
  invalid    echo requests and UDP datagrams from sources nobody may answer; sniffs for answers, prints "answers N"
  flood      UDP to PORT from absent on-link senders (spoofed addresses and MACs) at RATE packets/s for SECONDS
  fragments  first fragments (never completed) from many senders, and a train from one sender
  mixed      all of the above plus ARP request floods and unsolicited replies, round-robin, at RATE for SECONDS
"""
import argparse
import ipaddress
import random
import socket
import sys
import time

from scapy.all import ARP, ICMP, IP, UDP, Ether, Raw, conf, raw, sendp, sniff  # noqa: E402

conf.verb = 0


def spoofed_mac(rng):
    # Locally administered unicast: a station that does not exist.
    return "02:%02x:%02x:%02x:%02x:%02x" % tuple(rng.randrange(256) for _ in range(5))


def absent_sender(rng, network, first, count):
    return str(network.network_address + first + rng.randrange(count))


def dns_query(rng):
    # A DNS query for <random>.apps.example.org A: the appliance answers it (a wildcard), a UDP echo echoes it.
    qid = rng.randrange(65536)
    name = b"".join(bytes([len(label)]) + label for label in [b"x%d" % rng.randrange(10**6), b"apps", b"example", b"org"]) + b"\0"
    return qid.to_bytes(2, "big") + b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x01\x00\x01"


def invalid_frames(args, rng):
    network = ipaddress.ip_network(args.network, strict=False)
    sources = ["255.255.255.255", str(network.broadcast_address), "224.0.0.1", "0.0.0.0", "127.0.0.1", args.dst, "240.0.0.9"]
    frames = []
    for source in sources:
        head = Ether(dst=args.dst_mac, src=spoofed_mac(rng)) / IP(src=source, dst=args.dst)
        frames.append(head / ICMP(type=8, id=0x5151, seq=len(frames)) / Raw(b"x" * 16))
        frames.append(head / UDP(sport=4000, dport=args.port) / Raw(dns_query(rng)))
    return frames


def flood_frames(args, rng, count):
    network = ipaddress.ip_network(args.network, strict=False)
    frames = []
    for _ in range(count):
        source = absent_sender(rng, network, args.first, args.senders)
        frames.append(Ether(dst=args.dst_mac, src=spoofed_mac(rng)) / IP(src=source, dst=args.dst)
                      / UDP(sport=rng.randrange(1024, 65536), dport=args.port) / Raw(dns_query(rng)))
    return frames


def fragment_frames(args, rng, count, one_sender=False):
    network = ipaddress.ip_network(args.network, strict=False)
    frames = []
    fixed = absent_sender(rng, network, args.first, args.senders)
    for _ in range(count):
        source = fixed if one_sender else absent_sender(rng, network, args.first, args.senders)
        size = rng.choice([48, 1480])  # tiny ones (the old 8-slot exhaustion) and full ones (memory)
        frames.append(Ether(dst=args.dst_mac, src=spoofed_mac(rng))
                      / IP(src=source, dst=args.dst, id=rng.randrange(65536), flags="MF", frag=0, proto=17) / Raw(b"\0" * size))
    return frames


def arp_frames(args, rng, count):
    network = ipaddress.ip_network(args.network, strict=False)
    frames = []
    for i in range(count):
        sender_mac = spoofed_mac(rng)
        sender = absent_sender(rng, network, args.first, args.senders)
        op = "who-has" if i % 2 == 0 else "is-at"  # requests naming the stack, and replies it never asked for
        frames.append(Ether(dst="ff:ff:ff:ff:ff:ff" if op == "who-has" else args.dst_mac, src=sender_mac)
                      / ARP(op=op, hwsrc=sender_mac, psrc=sender, hwdst="00:00:00:00:00:00" if op == "who-has" else args.dst_mac, pdst=args.dst))
    return frames


POOL = 2000  # distinct frames built with scapy up front; building them while sending would cap the rate far below it


def paced(args, make):
    """Sends frames from a pool of make(POOL) at args.rate frames/s for args.seconds (a raw socket); returns the number sent."""
    pool = [raw(frame) for frame in make(POOL)]
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    out.bind((args.iface, 0))
    sent = 0
    start = time.monotonic()
    batch = max(1, args.rate // 50)
    try:
        while time.monotonic() - start < args.seconds:
            for _ in range(batch):
                try:
                    out.send(pool[sent % len(pool)])
                except BlockingIOError:
                    pass  # the tap's queue is full: the frame is lost, as on a real link
                sent += 1
            ahead = sent / args.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    finally:
        out.close()
    return sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["invalid", "flood", "fragments", "mixed"])
    parser.add_argument("--iface", required=True)
    parser.add_argument("--dst", required=True, help="the stack's address")
    parser.add_argument("--dst-mac", required=True, help="the stack's MAC")
    parser.add_argument("--network", required=True, help="the link's prefix, e.g. 10.213.0.0/24")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--first", type=int, default=10, help="absent senders start at this host number")
    parser.add_argument("--senders", type=int, default=200, help="how many absent senders")
    parser.add_argument("--rate", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.mode == "invalid":
        frames = invalid_frames(args, rng)
        sendp(frames, iface=args.iface)
        answers = sniff(iface=args.iface, timeout=1.5, lfilter=lambda p: p.haslayer(Ether) and p[Ether].src.lower() == args.dst_mac.lower())
        print("sent %d answers %d" % (len(frames), len(answers)))
    elif args.mode == "flood":
        print("sent %d" % paced(args, lambda n: flood_frames(args, rng, n)))
    elif args.mode == "fragments":
        frames = fragment_frames(args, rng, args.count) + fragment_frames(args, rng, args.count, one_sender=True)
        sendp(frames, iface=args.iface)
        print("sent %d" % len(frames))
    else:
        def make(n):
            # Interleaved: spoofed queries, fragment trains (many senders and one), ARP floods, invalid sources.
            parts = [flood_frames(args, rng, n // 4), fragment_frames(args, rng, n // 8),
                     fragment_frames(args, rng, n // 8, one_sender=True), arp_frames(args, rng, n // 4)]
            while sum(len(p) for p in parts) < n:
                parts.append(invalid_frames(args, rng))
            frames = [f for p in parts for f in p]
            rng.shuffle(frames)
            return frames[:n]
        print("sent %d" % paced(args, make))
    return 0


if __name__ == "__main__":
    sys.exit(main())
