namespace Unikernel.Protocols.Net;

/// <summary>Why a checked view or a parsed representation rejected its bytes (<see cref="None"/>: accepted).</summary>
public enum ParseError : byte
{
    None,

    /// <summary>Shorter than the fixed header, or than a length field says.</summary>
    Truncated,

    /// <summary>A length field is impossible (a header length below the minimum, a total length below the header).</summary>
    BadLength,

    /// <summary>A version, hardware or protocol type, or operation the stack does not speak.</summary>
    Unsupported,

    /// <summary>The checksum does not match.</summary>
    BadChecksum,

    /// <summary>A structural field is wrong (a DHCP magic cookie, an option that runs past the end, no message type).</summary>
    Malformed,
}
