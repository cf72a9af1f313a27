#!/usr/bin/python3
"""Zone transfer and TSIG client for TransferTests: dnspython is the independent implementation.

Every mode prints one JSON object on stdout.
  axfr HOST PORT ZONE ZONEFILE [KEYNAME ALG SECRET]   transfer, verify TSIG on every message, compare with ZONEFILE
  ixfr HOST PORT ZONE SERIAL [KEYNAME ALG SECRET]     IXFR over TCP: the records received, in order
  uixfr HOST PORT ZONE SERIAL [KEYNAME ALG SECRET]    IXFR over UDP
  query HOST PORT NAME TYPE KEYNAME ALG SECRET [tcp]  a signed query; the response's TSIG is verified
  sign NAME TYPE KEYNAME ALG SECRET [FUDGE]           prints the wire form of a signed query (and its MAC)
  verify QUERYHEX RESPONSEHEX KEYNAME ALG SECRET      verifies a response to a signed query
"""
import json
import sys

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.zone


def keyring(args):
    if len(args) < 3:
        return None, None, None
    name, alg, secret = args[:3]
    ring = dns.tsigkeyring.from_text({name: (alg, secret)})
    return ring, dns.name.from_text(name), dns.name.from_text(alg)


def out(obj):
    print(json.dumps(obj))
    sys.exit(0)


def records(messages):
    rows = []
    for m in messages:
        for rrset in m.answer:
            for rr in rrset:
                rows.append(f"{rrset.name} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} {rr.to_text()}")
    return rows


def transfer(host, port, zone, rdtype, serial, keyargs):
    ring, kname, kalg = keyring(keyargs)
    messages = []
    try:
        for m in dns.query.xfr(host, zone, rdtype=rdtype, port=int(port), keyring=ring, keyname=kname, keyalgorithm=kalg or dns.tsig.default_algorithm,
                               serial=serial, lifetime=60, relativize=False):
            messages.append(m)
    except dns.query.TransferError as e:
        out({"rcode": dns.rcode.to_text(e.rcode), "messages": len(messages)})
    except Exception as e:  # noqa: BLE001 - the test asserts on the kind
        out({"error": type(e).__name__, "detail": str(e), "messages": len(messages)})
    return messages


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "axfr":
        host, port, zone, zonefile = args[:4]
        messages = transfer(host, port, zone, dns.rdatatype.AXFR, 0, args[4:])
        theirs = dns.zone.from_file(zonefile, origin=zone, relativize=False, check_origin=False)
        ours = dns.zone.Zone(zone, relativize=False)
        for m in messages:
            for rrset in m.answer:
                if rrset.rdtype == dns.rdatatype.SOA and ours.get_rdataset(rrset.name, "SOA"):
                    continue
                ours.find_rdataset(rrset.name, rrset.rdtype, create=True).update(rrset)
        missing = sorted(set(str(n) + " " + r.to_text() for n, rds in theirs.items() for r in rds) - set(str(n) + " " + r.to_text() for n, rds in ours.items() for r in rds))
        extra = sorted(set(str(n) + " " + r.to_text() for n, rds in ours.items() for r in rds) - set(str(n) + " " + r.to_text() for n, rds in theirs.items() for r in rds))
        tsig = [m.had_tsig for m in messages]
        out({"rcode": "NOERROR", "messages": len(messages), "signed": tsig, "equal": ours == theirs, "missing": missing[:10], "extra": extra[:10],
             "records": sum(len(m.answer) for m in messages), "first": records(messages)[:1], "last": records(messages)[-1:]})
    elif mode in ("ixfr", "uixfr"):
        host, port, zone, serial = args[:4]
        ring, kname, kalg = keyring(args[4:])
        q = dns.message.make_query(zone, "IXFR")
        soa = dns.rrset.from_text(zone, 0, "IN", "SOA", f". . {serial} 0 0 0 0")
        q.authority.append(soa)
        if ring:
            q.use_tsig(ring, keyname=kname, algorithm=kalg)
        if mode == "uixfr":
            r = dns.query.udp(q, host, port=int(port), timeout=10)
            out({"rcode": dns.rcode.to_text(r.rcode()), "records": records([r]), "signed": r.had_tsig})
        msgs = []
        try:
            for m in dns.query.xfr(host, zone, rdtype="IXFR", serial=int(serial), port=int(port), keyring=ring, keyname=kname,
                                   keyalgorithm=kalg or dns.tsig.default_algorithm, lifetime=60, relativize=False):
                msgs.append(m)
        except dns.query.TransferError as e:
            out({"rcode": dns.rcode.to_text(e.rcode)})
        out({"rcode": "NOERROR", "messages": len(msgs), "records": records(msgs), "signed": [m.had_tsig for m in msgs]})
    elif mode == "ixfr-apply":
        host, port, zone, oldfile, newfile = args[:5]
        z = dns.zone.from_file(oldfile, origin=zone, relativize=False, check_origin=False)
        serial = z.find_rdataset(zone, "SOA")[0].serial
        msgs = list(dns.query.xfr(host, zone, rdtype="IXFR", serial=serial, port=int(port), lifetime=60, relativize=False))
        dns.query.inbound_xfr(host, z, port=int(port), lifetime=60)
        new = dns.zone.from_file(newfile, origin=zone, relativize=False, check_origin=False)
        out({"records": records(msgs), "equal": z == new, "serial": z.find_rdataset(zone, "SOA")[0].serial})
    elif mode == "query":
        host, port, name, rdtype = args[:4]
        ring, kname, kalg = keyring(args[4:7])
        q = dns.message.make_query(name, rdtype, use_edns=0)
        q.use_tsig(ring, keyname=kname, algorithm=kalg)
        try:
            if args[7:] == ["tcp"]:
                r = dns.query.tcp(q, host, port=int(port), timeout=10)
            else:
                r = dns.query.udp(q, host, port=int(port), timeout=10)
        except Exception as e:  # noqa: BLE001
            out({"error": type(e).__name__, "detail": str(e)})
        out({"rcode": dns.rcode.to_text(r.rcode()), "records": records([r]), "signed": r.had_tsig, "tsig_error": r.tsig_error})
    elif mode == "sign":
        name, rdtype = args[:2]
        ring, kname, kalg = keyring(args[2:5])
        q = dns.message.make_query(name, rdtype, id=0x1234)
        fudge = int(args[5]) if len(args) > 5 else 300
        q.use_tsig(ring, keyname=kname, algorithm=kalg, fudge=fudge)
        wire = q.to_wire()
        out({"query": wire.hex(), "mac": q.mac.hex()})
    elif mode == "verify":
        qhex, rhex = args[:2]
        ring, kname, kalg = keyring(args[2:5])
        q = dns.message.from_wire(bytes.fromhex(qhex), keyring=ring)
        try:
            r = dns.message.from_wire(bytes.fromhex(rhex), keyring=ring, request_mac=q.mac)
        except Exception as e:  # noqa: BLE001
            out({"error": type(e).__name__, "detail": str(e)})
        out({"rcode": dns.rcode.to_text(r.rcode()), "records": records([r]), "signed": r.had_tsig, "tsig_error": r.tsig_error})


main()
