using System;
using System.Buffers.Binary;
using System.Threading;

namespace Unikernel.Protocols.Dns;

/// <summary>
/// A bounded map from a question key to a ready-made response. Reads are lock-free (a slot holds an immutable entry,
/// replaced atomically); writes take a lock. Open addressing with at most <see cref="Probe"/> probes: a full
/// neighbourhood overwrites its first slot, and when more than the capacity has been added the table starts afresh, so
/// memory stays bounded and colliding keys (even chosen by an attacker: the hash is seeded) only cost cache misses.
/// </summary>
internal sealed class MemoCache
{
    private const int Probe = 8;

    private sealed class Entry(byte[] key, ulong hash, byte[] response)
    {
        public readonly byte[] Key = key;
        public readonly ulong Hash = hash;
        public readonly byte[] Response = response;
    }

    private readonly Lock _gate = new();
    private readonly int _capacity;
    private readonly ulong _seed = (ulong)Random.Shared.NextInt64();
    private Entry?[] _slots;
    private int _count;

    public MemoCache(int capacity)
    {
        _capacity = Math.Max(0, capacity);
        _slots = new Entry?[_capacity == 0 ? 1 : (int)Math.Min(1u << 30, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)_capacity * 2))];
    }

    public int Count => Volatile.Read(ref _count);

    public int Capacity => _capacity;

    public ulong Hash(ReadOnlySpan<byte> key)
    {
        var h = _seed ^ (ulong)key.Length;
        var i = 0;
        for (; i + 8 <= key.Length; i += 8)
        {
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(key[i..])) * 0x9E3779B97F4A7C15UL;
            h ^= h >> 29;
        }
        ulong tail = 0;
        for (; i < key.Length; i++)
        {
            tail = (tail << 8) | key[i];
        }
        h = (h ^ tail) * 0x9E3779B97F4A7C15UL;
        h ^= h >> 32;
        return h;
    }

    public byte[]? Find(ReadOnlySpan<byte> key, ulong hash)
    {
        var slots = Volatile.Read(ref _slots);
        var mask = slots.Length - 1;
        var index = (int)hash & mask;
        for (var p = 0; p < Probe; p++)
        {
            var entry = Volatile.Read(ref slots[(index + p) & mask]);
            if (entry is null)
            {
                return null;
            }
            if (entry.Hash == hash && key.SequenceEqual(entry.Key))
            {
                return entry.Response;
            }
        }
        return null;
    }

    public void Add(ReadOnlySpan<byte> key, ulong hash, byte[] response)
    {
        if (_capacity == 0)
        {
            return;
        }
        var entry = new Entry(key.ToArray(), hash, response);
        lock (_gate)
        {
            if (_count >= _capacity)
            {
                Volatile.Write(ref _slots, new Entry?[_slots.Length]);
                Volatile.Write(ref _count, 0);
            }
            var slots = _slots;
            var mask = slots.Length - 1;
            var index = (int)hash & mask;
            for (var p = 0; p < Probe; p++)
            {
                var existing = slots[(index + p) & mask];
                if (existing is null)
                {
                    Volatile.Write(ref slots[(index + p) & mask], entry);
                    Volatile.Write(ref _count, _count + 1);
                    return;
                }
                if (existing.Hash == hash && key.SequenceEqual(existing.Key))
                {
                    return; // another thread added it
                }
            }
            Volatile.Write(ref slots[index], entry);
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            Volatile.Write(ref _slots, new Entry?[_slots.Length]);
            Volatile.Write(ref _count, 0);
        }
    }
}
