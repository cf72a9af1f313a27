using System;
using System.Buffers.Binary;
using System.Numerics;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// SHA-1, SHA-256 and SHA-512 (FIPS 180-4) in managed code, and HMAC (RFC 2104) over them, for TSIG. Not the BCL's
/// <c>System.Security.Cryptography</c>: on Linux that loads OpenSSL (libcrypto) at run time, which the VM images do not
/// carry (see docs/vm.md: "No usable version of libssl was found"); these need nothing but the CPU. They are not
/// constant-time against cache-timing attackers on the same machine; TSIG MACs are compared in constant time.
/// </summary>
public abstract class TsigHash
{
    private readonly byte[] _block;
    private int _filled;
    private ulong _length;

    protected TsigHash(int blockSize, int hashSize)
    {
        _block = new byte[blockSize];
        HashSize = hashSize;
    }

    public int BlockSize => _block.Length;

    public int HashSize { get; }

    public static TsigHash Create(TsigAlgorithm algorithm) => algorithm switch
    {
        TsigAlgorithm.HmacSha1 => new Sha1(),
        TsigAlgorithm.HmacSha512 => new Sha512(),
        _ => new Sha256(),
    };

    public void Reset()
    {
        _filled = 0;
        _length = 0;
        Initialize();
    }

    protected abstract void Initialize();

    protected abstract void Compress(ReadOnlySpan<byte> block);

    protected abstract void WriteState(Span<byte> destination);

    public void Append(ReadOnlySpan<byte> data)
    {
        _length += (ulong)data.Length;
        if (_filled > 0)
        {
            var take = Math.Min(data.Length, _block.Length - _filled);
            data[..take].CopyTo(_block.AsSpan(_filled));
            _filled += take;
            data = data[take..];
            if (_filled < _block.Length)
            {
                return;
            }
            Compress(_block);
            _filled = 0;
        }
        while (data.Length >= _block.Length)
        {
            Compress(data[.._block.Length]);
            data = data[_block.Length..];
        }
        data.CopyTo(_block);
        _filled = data.Length;
    }

    /// <summary>Writes the digest (<see cref="HashSize"/> octets) and resets.</summary>
    public void Finish(Span<byte> digest)
    {
        var bits = _length * 8;
        var lengthField = _block.Length == 128 ? 16 : 8;
        _block[_filled++] = 0x80;
        if (_filled > _block.Length - lengthField)
        {
            _block.AsSpan(_filled).Clear();
            Compress(_block);
            _filled = 0;
        }
        _block.AsSpan(_filled).Clear();
        BinaryPrimitives.WriteUInt64BigEndian(_block.AsSpan(_block.Length - 8), bits);
        Compress(_block);
        WriteState(digest[..HashSize]);
        Reset();
    }

    public static byte[] HashData(TsigAlgorithm algorithm, ReadOnlySpan<byte> data)
    {
        var h = Create(algorithm);
        h.Reset();
        h.Append(data);
        var digest = new byte[h.HashSize];
        h.Finish(digest);
        return digest;
    }

    private sealed class Sha1 : TsigHash
    {
        private readonly uint[] _h = new uint[5];
        private readonly uint[] _w = new uint[80];

        public Sha1() : base(64, 20) => Initialize();

        protected override void Initialize()
        {
            _h[0] = 0x67452301;
            _h[1] = 0xEFCDAB89;
            _h[2] = 0x98BADCFE;
            _h[3] = 0x10325476;
            _h[4] = 0xC3D2E1F0;
        }

        protected override void Compress(ReadOnlySpan<byte> block)
        {
            var w = _w;
            for (var i = 0; i < 16; i++)
            {
                w[i] = BinaryPrimitives.ReadUInt32BigEndian(block[(i * 4)..]);
            }
            for (var i = 16; i < 80; i++)
            {
                w[i] = BitOperations.RotateLeft(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
            }
            uint a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4];
            for (var i = 0; i < 80; i++)
            {
                uint f, k;
                if (i < 20)
                {
                    f = (b & c) | (~b & d);
                    k = 0x5A827999;
                }
                else if (i < 40)
                {
                    f = b ^ c ^ d;
                    k = 0x6ED9EBA1;
                }
                else if (i < 60)
                {
                    f = (b & c) | (b & d) | (c & d);
                    k = 0x8F1BBCDC;
                }
                else
                {
                    f = b ^ c ^ d;
                    k = 0xCA62C1D6;
                }
                var t = BitOperations.RotateLeft(a, 5) + f + e + k + w[i];
                e = d;
                d = c;
                c = BitOperations.RotateLeft(b, 30);
                b = a;
                a = t;
            }
            _h[0] += a;
            _h[1] += b;
            _h[2] += c;
            _h[3] += d;
            _h[4] += e;
        }

        protected override void WriteState(Span<byte> destination)
        {
            for (var i = 0; i < 5; i++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[(i * 4)..], _h[i]);
            }
        }
    }

    private sealed class Sha256 : TsigHash
    {
        private static readonly uint[] K =
        [
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
        ];

        private readonly uint[] _h = new uint[8];
        private readonly uint[] _w = new uint[64];

        public Sha256() : base(64, 32) => Initialize();

        protected override void Initialize()
        {
            _h[0] = 0x6a09e667;
            _h[1] = 0xbb67ae85;
            _h[2] = 0x3c6ef372;
            _h[3] = 0xa54ff53a;
            _h[4] = 0x510e527f;
            _h[5] = 0x9b05688c;
            _h[6] = 0x1f83d9ab;
            _h[7] = 0x5be0cd19;
        }

        protected override void Compress(ReadOnlySpan<byte> block)
        {
            var w = _w;
            for (var i = 0; i < 16; i++)
            {
                w[i] = BinaryPrimitives.ReadUInt32BigEndian(block[(i * 4)..]);
            }
            for (var i = 16; i < 64; i++)
            {
                var s0 = BitOperations.RotateRight(w[i - 15], 7) ^ BitOperations.RotateRight(w[i - 15], 18) ^ (w[i - 15] >> 3);
                var s1 = BitOperations.RotateRight(w[i - 2], 17) ^ BitOperations.RotateRight(w[i - 2], 19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
            }
            uint a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4], f = _h[5], g = _h[6], h = _h[7];
            for (var i = 0; i < 64; i++)
            {
                var s1 = BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25);
                var ch = (e & f) ^ (~e & g);
                var t1 = h + s1 + ch + K[i] + w[i];
                var s0 = BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22);
                var maj = (a & b) ^ (a & c) ^ (b & c);
                var t2 = s0 + maj;
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
            }
            _h[0] += a;
            _h[1] += b;
            _h[2] += c;
            _h[3] += d;
            _h[4] += e;
            _h[5] += f;
            _h[6] += g;
            _h[7] += h;
        }

        protected override void WriteState(Span<byte> destination)
        {
            for (var i = 0; i < 8; i++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(destination[(i * 4)..], _h[i]);
            }
        }
    }

    private sealed class Sha512 : TsigHash
    {
        private static readonly ulong[] K =
        [
            0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
            0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
            0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
            0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
            0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
            0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
            0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
            0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
            0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
            0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
            0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
            0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
            0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
            0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
            0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
            0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
        ];

        private readonly ulong[] _h = new ulong[8];
        private readonly ulong[] _w = new ulong[80];

        public Sha512() : base(128, 64) => Initialize();

        protected override void Initialize()
        {
            _h[0] = 0x6a09e667f3bcc908;
            _h[1] = 0xbb67ae8584caa73b;
            _h[2] = 0x3c6ef372fe94f82b;
            _h[3] = 0xa54ff53a5f1d36f1;
            _h[4] = 0x510e527fade682d1;
            _h[5] = 0x9b05688c2b3e6c1f;
            _h[6] = 0x1f83d9abfb41bd6b;
            _h[7] = 0x5be0cd19137e2179;
        }

        protected override void Compress(ReadOnlySpan<byte> block)
        {
            var w = _w;
            for (var i = 0; i < 16; i++)
            {
                w[i] = BinaryPrimitives.ReadUInt64BigEndian(block[(i * 8)..]);
            }
            for (var i = 16; i < 80; i++)
            {
                var s0 = BitOperations.RotateRight(w[i - 15], 1) ^ BitOperations.RotateRight(w[i - 15], 8) ^ (w[i - 15] >> 7);
                var s1 = BitOperations.RotateRight(w[i - 2], 19) ^ BitOperations.RotateRight(w[i - 2], 61) ^ (w[i - 2] >> 6);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
            }
            ulong a = _h[0], b = _h[1], c = _h[2], d = _h[3], e = _h[4], f = _h[5], g = _h[6], h = _h[7];
            for (var i = 0; i < 80; i++)
            {
                var s1 = BitOperations.RotateRight(e, 14) ^ BitOperations.RotateRight(e, 18) ^ BitOperations.RotateRight(e, 41);
                var ch = (e & f) ^ (~e & g);
                var t1 = h + s1 + ch + K[i] + w[i];
                var s0 = BitOperations.RotateRight(a, 28) ^ BitOperations.RotateRight(a, 34) ^ BitOperations.RotateRight(a, 39);
                var maj = (a & b) ^ (a & c) ^ (b & c);
                var t2 = s0 + maj;
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = c;
                c = b;
                b = a;
                a = t1 + t2;
            }
            _h[0] += a;
            _h[1] += b;
            _h[2] += c;
            _h[3] += d;
            _h[4] += e;
            _h[5] += f;
            _h[6] += g;
            _h[7] += h;
        }

        protected override void WriteState(Span<byte> destination)
        {
            for (var i = 0; i < 8; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(destination[(i * 8)..], _h[i]);
            }
        }
    }
}

/// <summary>HMAC (RFC 2104) over a <see cref="TsigHash"/>; reusable: <see cref="Reset"/>, <see cref="Append"/>, <see cref="Finish"/>.</summary>
public sealed class TsigHmac
{
    private readonly TsigHash _inner;
    private readonly byte[] _innerPad;
    private readonly byte[] _outerPad;

    public TsigHmac(TsigAlgorithm algorithm, ReadOnlySpan<byte> secret)
    {
        _inner = TsigHash.Create(algorithm);
        var blockSize = _inner.BlockSize;
        var key = new byte[blockSize];
        if (secret.Length > blockSize)
        {
            _inner.Reset();
            _inner.Append(secret);
            _inner.Finish(key);
        }
        else
        {
            secret.CopyTo(key);
        }
        _innerPad = new byte[blockSize];
        _outerPad = new byte[blockSize];
        for (var i = 0; i < blockSize; i++)
        {
            _innerPad[i] = (byte)(key[i] ^ 0x36);
            _outerPad[i] = (byte)(key[i] ^ 0x5C);
        }
        Reset();
    }

    public int MacSize => _inner.HashSize;

    public void Reset()
    {
        _inner.Reset();
        _inner.Append(_innerPad);
    }

    public void Append(ReadOnlySpan<byte> data) => _inner.Append(data);

    /// <summary>Writes the MAC (<see cref="MacSize"/> octets) and resets for the next one.</summary>
    public void Finish(Span<byte> mac)
    {
        Span<byte> innerDigest = stackalloc byte[64];
        _inner.Finish(innerDigest);
        _inner.Append(_outerPad);
        _inner.Append(innerDigest[..MacSize]);
        _inner.Finish(mac);
        Reset();
    }
}
