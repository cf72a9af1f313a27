#!/usr/bin/env python3
"""Where the bytes of a NativeAOT image go (a small, sizoscope-style summary).

Usage: bench/size/analyse.py IMAGE [--map MAP.xml] [--top N] [--depth D] [--json OUT]

IMAGE is the published image (e.g. examples/dns/dist/unix/dns). MAP is the compiler's map file, written with
  dotnet publish ... -p:IlcGenerateMapFile=true
to obj/<config>/<target>-<net>/net10.0/<rid>/native/<name>.map.xml (found next to the image's project when omitted).

Prints, from the image's ELF section headers, how much is native runtime code (.text: GC, unwinder, PAL), managed
code (__managedcode), read-only data (type descriptors, frozen objects, metadata) and unwind tables; then, from the
map, the managed nodes (method code with its GC info and EH info, type descriptors, statics, dictionaries, ...)
grouped by assembly and by namespace/type prefix (D name components, default 3), largest first.
Names in the map are mangled ("S_P_CoreLib_System_Threading_PortableThreadPool__..."); the prefix grouping reads
'_' as '.', which is exact for namespaces and types without '_' in their names and close enough otherwise.
"""
import argparse
import collections
import glob
import json
import os
import re
import struct
import sys
import xml.etree.ElementTree as ET

MODULES = [  # mangled assembly prefix -> assembly (longest first)
    ("S_P_CoreLib_", "System.Private.CoreLib"),
    ("S_P_Reflection_Execution_", "System.Private.Reflection.Execution"),
    ("S_P_StackTraceMetadata_", "System.Private.StackTraceMetadata"),
    ("S_P_TypeLoader_", "System.Private.TypeLoader"),
    ("S_P_Uri_", "System.Private.Uri"),
    ("System_Net_Primitives_", "System.Net.Primitives"),
    ("System_Net_Sockets_", "System.Net.Sockets"),
    ("System_Collections_Concurrent_", "System.Collections.Concurrent"),
    ("System_Collections_", "System.Collections"),
    ("System_Linq_", "System.Linq"),
    ("System_Memory_", "System.Memory"),
    ("System_Runtime_InteropServices_", "System.Runtime.InteropServices"),
    ("System_Security_Cryptography_", "System.Security.Cryptography"),
    ("System_IO_Compression_", "System.IO.Compression"),
    ("System_Console_", "System.Console"),
    ("System_Text_Encoding_Extensions_", "System.Text.Encoding.Extensions"),
    ("Unikernel_Devices_", "Unikernel.Devices"),
    ("Unikernel_Protocols_", "Unikernel.Protocols"),
]

PRIMITIVES = {"Object", "String", "Bool", "Char", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
              "IntPtr", "UIntPtr", "Single", "Double", "Void"}

# Node-name prefixes that only say what kind of node it is; the rest names the owning method or type.
KIND_PREFIXES = [
    "__GenericDict_", "__NONGCSTATICS", "__GCSTATICS", "__THREADSTATICS", "__GetGCStaticBase_", "__GetNonGCStaticBase_",
    "__GetThreadStaticBase_", "__SealedVTable_", "__InterfaceDispatchMap_", "__writableData", "__ehinfo_",
    "__readonlydata_", "_associatedData_", "__DispatchCell_", "unbox_", "__TypeThreadStaticIndex_",
]


def elf_sections(path):
    """(name, size, type) of every section, from the ELF64 little-endian section header table."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        sys.exit(f"{path}: not an ELF64 file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab_off, strtab_size = headers[shstrndx][4], headers[shstrndx][5]
    strtab = data[strtab_off:strtab_off + strtab_size]
    out = []
    for h in headers[1:]:
        name = strtab[h[0]:strtab.index(b"\0", h[0])].decode()
        out.append((name, h[5], h[1]))
    return out, len(data)


def find_map(image):
    name = os.path.basename(image)
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(image))))  # <project>/dist/<target>/
    hits = sorted(glob.glob(os.path.join(project, "obj", "*", "*", "*", "*", "native", "*.map.xml")), key=os.path.getmtime)
    hits = [h for h in hits if os.path.basename(h) in (name + ".map.xml",) or True]
    return hits[-1] if hits else None


def owner(name):
    """(assembly, dotted owner path) of a mangled node name."""
    for p in KIND_PREFIXES:
        if name.startswith(p):
            name = name[len(p):]
            break
    name = re.sub(r"^_ZTV\d+", "", name)
    name = name.replace("<Boxed>", "").replace("<unbox>", "")
    if name.startswith("Boxed_"):
        name = name[len("Boxed_"):]
    # Drop generic arguments (nested <...>): the definition owns its instantiations.
    depth, plain = 0, []
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            plain.append(ch)
    name = "".join(plain)
    assembly = "(other)"
    for prefix, asm in MODULES:
        if name.startswith(prefix):
            assembly, name = asm, name[len(prefix):]
            break
    else:
        m = re.match(r"^([A-Za-z0-9]+)_", name)
        if m and m.group(1) in PRIMITIVES:
            assembly = "System.Private.CoreLib"
            name = "System_" + name
        elif name.startswith(("g_", "tls", "_")) or "_" not in name and not name[:1].isupper():
            assembly = "(runtime)"
        elif name.startswith(("Object", "String", "__Array", "Array", "Internal_")) or "_" not in name:
            assembly = "System.Private.CoreLib"
        elif m:
            assembly = "(app: " + m.group(1) + ")"
            name = name[len(m.group(1)) + 1:]
    type_part = name.split("__", 1)[0]  # "__" separates the type from its member
    return assembly, type_part.strip("_").replace("_", ".")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--map")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    sections, file_size = elf_sections(args.image)
    print(f"== {args.image}: {file_size:,} bytes on disk")
    groups = collections.OrderedDict([
        ("native runtime code (.text: GC, unwinder, PAL)", [".text", ".init", ".fini", ".plt", ".plt.got"]),
        ("managed code (__managedcode, __unbox)", ["__managedcode", "__unbox"]),
        ("read-only data (.rodata: types, frozen objects, metadata)", [".rodata"]),
        ("unwind/EH tables (.eh_frame*, .dotnet_eh_table)", [".eh_frame", ".eh_frame_hdr", ".dotnet_eh_table"]),
        ("relocations and dynamic linking", [".rela.dyn", ".rela.plt", ".dynsym", ".dynstr", ".gnu.hash", ".gnu.version", ".gnu.version_d", ".gnu.version_r", ".dynamic", ".got", ".interp"]),
        ("writable data (.data, .data.rel.ro, ...)", [".data", ".data.rel.ro", ".tdata", ".init_array", ".fini_array", "__modules"]),
    ])
    seen = set()
    summary = {"file": file_size, "sections": {}}
    for label, names in groups.items():
        total = sum(s for n, s, t in sections if n in names and t != 8)  # SHT_NOBITS takes no file space
        seen.update(names)
        summary["sections"][label] = total
        print(f"  {total:>10,}  {label}")
    rest = sum(s for n, s, t in sections if n not in seen and t != 8)
    print(f"  {rest:>10,}  other sections and headers ({', '.join(n for n, s, t in sections if n not in seen and t != 8)})")

    map_path = args.map or find_map(args.image)
    if not map_path or not os.path.exists(map_path):
        print("(no map file: publish with -p:IlcGenerateMapFile=true for the managed breakdown)")
        return
    root = ET.parse(map_path).getroot()
    by_kind = collections.Counter()
    by_asm = collections.Counter()
    by_prefix = collections.Counter()
    by_type = collections.Counter()
    total = 0
    for node in root:
        size = int(node.get("Length", "0"))
        kind = node.tag
        total += size
        by_kind[kind] += size
        name = node.get("Name", "")
        if kind in ("DehydratedData", "ArrayOfFrozenObjects", "Metadata", "ExternalReferencesTable") or name.startswith("__embedded") or (name.startswith("__") and name.endswith(("_map", "table", "Table", "hashtable", "Map", "Header"))):
            continue  # whole-image tables: shown per kind only
        asm, path = owner(name)
        parts = path.split(".") if path else ["?"]
        by_asm[asm] += size
        by_prefix[asm + ": " + ".".join(parts[:args.depth])] += size
        by_type[asm + ": " + path] += size
    print(f"\n== map {map_path}: {total:,} bytes in {len(root):,} nodes")
    print("  by node kind:")
    for k, v in by_kind.most_common(12):
        print(f"  {v:>10,}  {k}")
    print("  by assembly (method code + GC/EH info + type descriptors + statics; whole-image tables left out):")
    for k, v in by_asm.most_common(args.top):
        print(f"  {v:>10,}  {k}")
    print(f"  by namespace/type prefix ({args.depth} components), top {args.top}:")
    for k, v in by_prefix.most_common(args.top):
        print(f"  {v:>10,}  {k}")
    print(f"  by type, top {args.top}:")
    for k, v in by_type.most_common(args.top):
        print(f"  {v:>10,}  {k}")
    if args.json:
        summary.update(map_total=total, kinds=dict(by_kind), assemblies=dict(by_asm), prefixes=dict(by_prefix), types=dict(by_type))
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
