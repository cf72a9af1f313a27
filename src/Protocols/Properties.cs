using System.Runtime.CompilerServices;

// Packet-path buffers are stackalloc'd and fully written before being read: skip zeroing them.
[module: SkipLocalsInit]
