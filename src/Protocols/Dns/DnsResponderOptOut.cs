using System;
using System.Collections.Generic;

namespace Unikernel.Protocols.Dns;

public sealed partial class DnsResponder
{
    /// <summary>
    /// NSEC3 opt-out (RFC 5155 6, 7.2.3, 7.2.4 and 7.2.7): a name without an NSEC3 of its own (an unsigned delegation
    /// or an empty non-terminal leading only to them, left out of an opt-out chain) is denied by the closest provable
    /// encloser proof: the NSEC3 matching the nearest ancestor that has one, and the NSEC3 (opt-out flag set) covering
    /// the next closer name. Returns false (nothing added) when the name has an NSEC3 of its own or the zone uses NSEC.
    /// </summary>
    private static bool AddOptOutProof(List<ZoneNode> proofs, Zone zone, ReadOnlySpan<char> key)
    {
        if (!zone.UsesNsec3 || zone.DenialMatching(key) is not null)
        {
            return false;
        }
        var at = 0;
        var nextCloser = 0;
        var apexLength = zone.Origin.Key.Length;
        while (at < key.Length && key[at] != 0 && key.Length - at > apexLength)
        {
            nextCloser = at;
            at += key[at] + 1;
            if (zone.DenialMatching(key[at..]) is { } encloser)
            {
                AddProof(proofs, encloser);
                AddProof(proofs, zone.DenialCovering(key[nextCloser..]));
                return true;
            }
        }
        return false;
    }
}
