using System;

namespace Unikernel.Devices;

/// <summary>
/// A key-value store that holds, next to each value, the HTTP response heads a static site serves it with, prepared at
/// build time: crunch's generator emits them as data (src/Protocols/Http/StaticHeads.cs, compiled into both the
/// generator and the runtime, defines the layout: NUL-separated pieces). Optional, like <see cref="IKeyValueMetadata"/>:
/// the static site checks for it with <c>is</c> and builds the heads itself at start-up when a store has none.
/// </summary>
public interface IKeyValueHttpHeads
{
    /// <summary>The prepared heads of the value of <paramref name="key"/>; false when the store has none for it.</summary>
    bool TryGetHttpHeads(string key, out ReadOnlyMemory<byte> heads);
}
