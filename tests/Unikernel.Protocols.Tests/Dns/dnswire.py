# An independent DNS decoder for the tests: dnspython (Debian python3-dnspython), never our own parser.
# Reads one request per line on stdin and answers one line of JSON on stdout:
#   "decode HEX"           -> the message's header, sections (sorted presentation lines), EDNS and TSIG fields
#   "rdata TYPE ORIGIN TEXT" -> dnspython's wire encoding of TEXT as RDATA of TYPE (hex), or an error
#   "validate ..."         -> see validate() below
import binascii, json, sys
import dns.flags, dns.message, dns.name, dns.opcode, dns.rcode, dns.rdata, dns.rdataclass, dns.rdatatype


class _Signed(Exception):
    def __init__(self, message, name):
        super().__init__("signed")
        self.message = message
        self.name = name


def _keyring(message, name):
    raise _Signed(message, name)


def _lines(section):
    out = []
    for rrset in section:
        out.extend(rrset.to_text().splitlines())
    return sorted(out)


def decode(wire):
    tsig = None
    try:
        m = dns.message.from_wire(wire, keyring=_keyring)
    except _Signed as s:
        # The TSIG record is last: its error field sits just before "other len" and the other data.
        m = s.message
        other = int.from_bytes(wire[-2:], "big")
        error = int.from_bytes(wire[-4 - other:-2 - other], "big")
        tsig = {"key": s.name.to_text(), "error": error}
    return {
        "id": m.id,
        "opcode": dns.opcode.to_text(m.opcode()),
        "rcode": dns.rcode.to_text(m.rcode()),
        "flags": dns.flags.to_text(m.flags),
        "question": [q.to_text() for q in m.question],
        "answer": _lines(m.answer),
        "authority": _lines(m.authority),
        "additional": _lines(m.additional),
        "edns": m.edns,
        "ednsflags": dns.flags.edns_to_text(m.ednsflags) if m.edns >= 0 else "",
        "payload": m.payload if m.edns >= 0 else 0,
        "options": [o.to_text() if hasattr(o, "to_text") else repr(o) for o in m.options],
        "tsig": tsig,
    }


def rdata(rdtype, origin, text):
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text, origin=dns.name.from_text(origin), relativize=False)
    return {"hex": binascii.hexlify(rd.to_wire()).decode().upper(), "text": rd.to_text()}


def validate(keys_wire, wire):
    """Checks every RRSIG'd RRset of answer and authority against the zone's DNSKEY RRset (from another reply)."""
    import dns.dnssec
    keys_message = dns.message.from_wire(keys_wire)
    dnskeys = [r for r in keys_message.answer if r.rdtype == dns.rdatatype.DNSKEY]
    if not dnskeys:
        return {"error": "no DNSKEY RRset in the key reply"}
    keys = {dnskeys[0].name: dnskeys[0]}
    m = dns.message.from_wire(wire)
    validated, unsigned, errors = 0, [], []
    for section in (m.answer, m.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.RRSIG:
                continue
            sigs = [s for s in section if s.rdtype == dns.rdatatype.RRSIG and s.name == rrset.name and s.covers == rrset.rdtype]
            if not sigs:
                unsigned.append(rrset.name.to_text() + " " + dns.rdatatype.to_text(rrset.rdtype))
                continue
            try:
                dns.dnssec.validate(rrset, sigs[0], keys)
                validated += 1
            except Exception as e:
                errors.append(rrset.name.to_text() + " " + dns.rdatatype.to_text(rrset.rdtype) + ": " + str(e))
    return {"validated": validated, "unsigned": unsigned, "errors": errors}


for line in sys.stdin:
    line = line.rstrip("\n")
    try:
        verb, _, rest = line.partition(" ")
        if verb == "decode":
            result = decode(binascii.unhexlify(rest))
        elif verb == "validate":
            keys, message = rest.split(" ")
            result = validate(binascii.unhexlify(keys), binascii.unhexlify(message))
        elif verb == "rdata":
            rdtype, origin, text = rest.split(" ", 2)
            result = rdata(rdtype, origin, text)
        else:
            result = {"error": "unknown request " + verb}
    except Exception as e:  # the test reports it: an error says why
        result = {"error": type(e).__name__ + ": " + str(e)}
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
