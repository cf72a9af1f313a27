#!/usr/bin/python3
# Generates set-field-frames.txt: frames before and after an OpenFlow 1.3 set_field, both built by scapy (2.5, Debian's
# python3-scapy) with every checksum computed from scratch, so the expectation owes nothing to the switch's incremental
# updates. Run: /usr/bin/python3 set-field-frames.py > set-field-frames.txt
# Each line: name, OXM field number, value (hex), frame in (hex), frame out (hex).
from scapy.all import Ether, Dot1Q, IP, IPv6, TCP, UDP, ICMP, ARP, Raw
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr
import socket

SRC6, DST6 = "2001:db8::1", "2001:db8:0:1::2"
NEW6 = "fd00:1234:5678:9abc:def0:1:2:3"
E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def v6(addr):
    return socket.inet_pton(socket.AF_INET6, addr).hex()


def line(name, field, value, before, after):
    print(name, field, value, bytes(before).hex(), bytes(after).hex())


def eth6(payload, **ip):
    return Ether(**E) / IPv6(**{"src": SRC6, "dst": DST6, "hlim": 64, **ip}) / payload


def eth4(payload, **ip):
    return Ether(**E) / IP(**{"src": "10.0.0.1", "dst": "10.0.0.2", "ttl": 64, "id": 7, **ip}) / payload


data = Raw(b"unikernel-openflow")
tcp = lambda sport=1000, dport=80: TCP(sport=sport, dport=dport, seq=1, ack=2, flags="PA", window=512) / data
udp = lambda sport=1000, dport=53: UDP(sport=sport, dport=dport) / data
sctp = lambda sport=5000, dport=6000: SCTP(sport=sport, dport=dport, tag=0x11223344) / SCTPChunkData(tsn=1, stream_id=0, stream_seq=0, proto_id=0, data=b"sctp-data")

# IPv6 addresses: the TCP, UDP and ICMPv6 checksums cover them (the pseudo-header), SCTP's does not.
line("ipv6_src_tcp", 26, v6(NEW6), eth6(tcp()), eth6(tcp(), src=NEW6))
line("ipv6_dst_udp", 27, v6(NEW6), eth6(udp()), eth6(udp(), dst=NEW6))
line("ipv6_src_icmpv6", 26, v6(NEW6), eth6(ICMPv6EchoRequest(id=1, seq=2, data=b"ping")), eth6(ICMPv6EchoRequest(id=1, seq=2, data=b"ping"), src=NEW6))
line("ipv6_dst_sctp", 27, v6(NEW6), eth6(sctp()), eth6(sctp(), dst=NEW6))
line("ipv6_flabel", 28, "000abcde", eth6(udp(), fl=0x12345), eth6(udp(), fl=0xabcde))
line("ipv6_hlim_untouched_tagged_src", 26, v6(NEW6),
     Ether(**E) / Dot1Q(vlan=5) / IPv6(src=SRC6, dst=DST6, hlim=3) / udp(),
     Ether(**E) / Dot1Q(vlan=5) / IPv6(src=NEW6, dst=DST6, hlim=3) / udp())
# Transport ports over IPv6.
line("tcp6_dst", 14, "1f90", eth6(tcp()), eth6(tcp(dport=8080)))
line("udp6_src", 15, "3039", eth6(udp()), eth6(udp(sport=12345)))
# SCTP ports: CRC32c over the whole SCTP packet, for IPv4 and IPv6.
line("sctp_src", 17, "1388", eth4(sctp(sport=1)), eth4(sctp(sport=5000)))
line("sctp_dst", 18, "0050", eth4(sctp()), eth4(sctp(dport=80)))
line("sctp6_dst", 18, "0050", eth6(sctp()), eth6(sctp(dport=80)))
# ARP (Ethernet/IPv4): no checksum.
arp = lambda **f: Ether(src=E["src"], dst="ff:ff:ff:ff:ff:ff") / ARP(**{"op": 1, "hwsrc": "02:00:00:00:00:01", "psrc": "10.0.0.1", "hwdst": "00:00:00:00:00:00", "pdst": "10.0.0.2", **f})
line("arp_op", 21, "0002", arp(), arp(op=2))
line("arp_spa", 22, "c0a80101", arp(), arp(psrc="192.168.1.1"))
line("arp_tpa", 23, "c0a80102", arp(), arp(pdst="192.168.1.2"))
line("arp_sha", 24, "0a0b0c0d0e0f", arp(), arp(hwsrc="0a:0b:0c:0d:0e:0f"))
line("arp_tha", 25, "020000000099", arp(), arp(hwdst="02:00:00:00:00:99"))
# ICMP type and code; the ND target (covered by the ICMPv6 checksum).
line("icmpv4_type", 19, "00", eth4(ICMP(type=8, id=3, seq=4) / Raw(b"abcd")), eth4(ICMP(type=0, id=3, seq=4) / Raw(b"abcd")))
line("icmpv6_code", 30, "07", eth6(ICMPv6EchoRequest(id=1, seq=2)), eth6(ICMPv6EchoRequest(id=1, seq=2, code=7)))
ns = lambda target: ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
line("nd_target", 31, v6(NEW6), eth6(ns("2001:db8::99"), hlim=255), eth6(ns(NEW6), hlim=255))
# A field the packet does not have changes nothing.
line("ipv6_src_on_ipv4", 26, v6(NEW6), eth4(udp()), eth4(udp()))
line("sctp_src_on_tcp", 17, "1388", eth4(tcp()), eth4(tcp()))
line("arp_op_on_ipv4", 21, "0002", eth4(udp()), eth4(udp()))
