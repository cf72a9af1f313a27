#!/usr/bin/python3
"""Differential TCP conformance probes (scapy): the same scripted segments go to two targets, each reached through its
own interface, and the replies are printed normalized (flags, sequence and acknowledgment numbers relative to the
connection, payload length) as one JSON object per probe and target. The test compares the two targets field by field.

Usage: tcp_conformance.py NAME:IFACE:TARGET_IP:SOURCE_IP ... (run inside the namespace that holds the interfaces; the
source addresses are not configured on the kernel, so it never answers for them; we answer ARP for them ourselves).
"""
import json
import random
import sys
import time

from scapy.all import ARP, IP, TCP, AsyncSniffer, Ether, Raw, conf, get_if_hwaddr, sendp, srp1

conf.verb = 0
PORT = 80
CLOSED = 81
WAIT = 0.7


class Target:
    def __init__(self, spec):
        self.name, self.iface, self.ip, self.src = spec.split(":")
        self.mac = "02:00:00:aa:bb:%02x" % random.Random(self.name).randrange(256)
        self.arp = AsyncSniffer(iface=self.iface, store=False, prn=self.answer_arp,
                                lfilter=lambda p: ARP in p and p[ARP].op == 1 and p[ARP].pdst == self.src)
        self.arp.start()
        time.sleep(0.3)
        reply = None
        for _ in range(5):
            reply = srp1(Ether(dst="ff:ff:ff:ff:ff:ff", src=self.mac) / ARP(op=1, hwsrc=self.mac, psrc=self.src, pdst=self.ip),
                         iface=self.iface, timeout=1)
            if reply is not None:
                break
        if reply is None:
            raise SystemExit("no ARP reply from %s on %s" % (self.ip, self.iface))
        self.target_mac = reply[ARP].hwsrc

    def answer_arp(self, packet):
        sendp(Ether(dst=packet[Ether].src, src=self.mac) /
              ARP(op=2, hwsrc=self.mac, psrc=self.src, hwdst=packet[ARP].hwsrc, pdst=packet[ARP].psrc), iface=self.iface)

    def frame(self, segment, checksum=None):
        packet = Ether(dst=self.target_mac, src=self.mac) / IP(src=self.src, dst=self.ip) / segment
        if checksum is not None:
            packet[TCP].chksum = checksum
        return packet

    def exchange(self, segments, wait=WAIT, checksum=None):
        """Sends segments and returns every TCP segment the target sends to us meanwhile."""
        sniffer = AsyncSniffer(iface=self.iface, lfilter=lambda p: TCP in p and IP in p and p[IP].src == self.ip)
        sniffer.start()
        time.sleep(0.1)
        for segment in segments:
            sendp(self.frame(segment, checksum), iface=self.iface)
        time.sleep(wait)
        return [p[TCP] for p in sniffer.stop()]

    def connect(self, sport):
        """Three-way handshake from sport; returns (our next seq, their next seq)."""
        replies = self.exchange([TCP(sport=sport, dport=PORT, flags="S", seq=1000, window=65535, options=[("MSS", 1460)])])
        synack = [r for r in replies if r.flags == "SA"]
        if not synack:
            raise SystemExit("%s: no SYN-ACK (%s)" % (self.name, replies))
        theirs = synack[0].seq + 1
        sendp(self.frame(TCP(sport=sport, dport=PORT, flags="A", seq=1001, ack=theirs, window=65535)), iface=self.iface)
        time.sleep(0.2)
        return 1001, theirs


def data_length(segment):
    """TCP payload bytes from the IP lengths (Ethernet padding of short frames is not data)."""
    ip = segment.underlayer
    return ip.len - ip.ihl * 4 - segment.dataofs * 4


def normalize(replies, ours=0, theirs=0):
    return [{"flags": str(r.flags), "seq": (r.seq - theirs) & 0xFFFFFFFF, "ack": (r.ack - ours) & 0xFFFFFFFF if "A" in str(r.flags) else None,
             "len": data_length(r), "zero_window": r.window == 0} for r in replies]


def probes(target, base_port):
    results = {}
    sport = base_port

    def fresh():
        nonlocal sport
        sport += 1
        return (sport,) + target.connect(sport)

    # Closed port: SYN gets RST+ACK (ack = seq + 1), an ACK gets RST (seq = its ack).
    results["syn_to_closed_port"] = normalize(target.exchange([TCP(sport=base_port, dport=CLOSED, flags="S", seq=5000)]), ours=5000)
    results["ack_to_closed_port"] = normalize(target.exchange([TCP(sport=base_port, dport=CLOSED, flags="A", seq=5000, ack=777)]), theirs=777)
    # Bad checksum on a SYN to the open port: nothing.
    results["bad_checksum_syn"] = normalize(target.exchange([TCP(sport=base_port, dport=PORT, flags="S", seq=5000)], checksum=0x1234))

    p, ours, theirs = fresh()
    results["data_outside_window"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=ours + 10_000_000, ack=theirs) / Raw(b"x" * 10)]), ours, theirs)
    p, ours, theirs = fresh()
    results["rst_in_window_not_exact"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="R", seq=ours + 100)]), ours, theirs)
    results["rst_outside_window"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="R", seq=ours + 50_000_000)]), ours, theirs)
    p, ours, theirs = fresh()
    results["syn_in_established"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="S", seq=ours + 5)]), ours, theirs)
    p, ours, theirs = fresh()
    results["ack_for_unsent_data"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=ours, ack=theirs + 100_000)]), ours, theirs)
    p, ours, theirs = fresh()
    results["data_with_urgent_pointer"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="AU", seq=ours, ack=theirs, urgptr=1) / Raw(b"u")]), ours, theirs)
    p, ours, theirs = fresh()
    results["data_with_bad_checksum"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=ours, ack=theirs) / Raw(b"y")], checksum=0x4321), ours, theirs)
    p, ours, theirs = fresh()
    results["fin_in_established"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="FA", seq=ours, ack=theirs)]), ours, theirs)
    results["data_after_fin"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=ours + 1, ack=theirs) / Raw(b"late")]), ours, theirs)
    # FIN in other states and shapes.
    sport += 1
    synack = [r for r in target.exchange([TCP(sport=sport, dport=PORT, flags="S", seq=1000, window=65535, options=[("MSS", 1460)])]) if r.flags == "SA"]
    if synack:
        theirs = synack[0].seq + 1
        results["fin_completing_handshake"] = normalize(target.exchange([TCP(sport=sport, dport=PORT, flags="FA", seq=1001, ack=theirs, window=65535)]), 1001, theirs)
    p, ours, theirs = fresh()
    results["fin_with_data"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="FA", seq=ours, ack=theirs) / Raw(b"bye")]), ours, theirs)
    p, ours, theirs = fresh()
    results["fin_out_of_order"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="FA", seq=ours + 100, ack=theirs)]), ours, theirs)
    p, ours, theirs = fresh()
    target.exchange([TCP(sport=p, dport=PORT, flags="FA", seq=ours, ack=theirs)])
    results["fin_retransmitted_in_close_wait"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="FA", seq=ours, ack=theirs)]), ours, theirs)
    p, ours, theirs = fresh()
    results["fin_without_ack_flag"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="F", seq=ours)]), ours, theirs)
    # Zero window: fill the receive buffer of a connection nobody reads (within the advertised window), then send a
    # one-byte zero-window probe at the acknowledged edge; the reply must acknowledge the edge, not the probe.
    p, ours, theirs = fresh()
    edge, window = ours, 65535
    for _ in range(60):
        if window == 0:
            break
        size = min(1000, window)
        count = min(32, window // size)
        replies = target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=edge + size * i, ack=theirs, window=65535) / Raw(b"z" * size)
                                   for i in range(count)], wait=0.3)
        acks = [r for r in replies if "A" in str(r.flags)]
        if not acks:
            break
        best = max(acks, key=lambda r: ((r.ack - ours) & 0xFFFFFFFF, -r.window))
        edge, window = best.ack, best.window
    probe = target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=edge, ack=theirs, window=65535) / Raw(b"p")])
    results["zero_window_probe"] = [{"flags": str(r.flags), "acks_edge": r.ack == edge, "len": data_length(r), "zero_window": r.window == 0}
                                    for r in probe] if window == 0 else [{"window_never_closed": window}]
    p, ours, theirs = fresh()
    results["old_duplicate_data"] = normalize(target.exchange([TCP(sport=p, dport=PORT, flags="A", seq=ours - 5, ack=theirs) / Raw(b"old")]), ours, theirs)
    # Options with odd lengths on a SYN: an unknown-length MSS (ignored), then an option running past the header.
    sport += 1
    odd = target.exchange([TCP(sport=sport, dport=PORT, flags="S", seq=9000, dataofs=6) / Raw(b"\x02\x03\x05\x01")])
    results["syn_with_odd_length_mss"] = normalize([r for r in odd if r.dport == sport], ours=9000)
    sport += 1
    past = target.exchange([TCP(sport=sport, dport=PORT, flags="S", seq=9000, dataofs=6) / Raw(b"\x01\x08\x0a\x00")])
    results["syn_with_option_past_header"] = normalize([r for r in past if r.dport == sport], ours=9000)
    # Normalize away what is random or implementation-defined in SYN-ACKs (ISN): keep flags and ack only.
    for name in ("syn_with_odd_length_mss", "syn_with_option_past_header"):
        for r in results[name]:
            r["seq"] = None
    return results


def main():
    targets = [Target(spec) for spec in sys.argv[1:]]
    out = {}
    for i, target in enumerate(targets):
        out[target.name] = probes(target, 20000 + 1000 * i)
    for target in targets:
        target.arp.stop()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
