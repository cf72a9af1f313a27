using System;
using System.Collections.Generic;
using System.Globalization;
using Unikernel.Devices;

namespace Unikernel.Protocols.Dns;

/// <summary>Loads zones from a key-value store and from files, reporting bad zones without failing the rest.</summary>
public static class ZoneCatalog
{
    /// <summary>
    /// Loads every <c>*.zone</c> key of <paramref name="store"/> (may be null) and every file in <paramref name="files"/>.
    /// Each bad zone's errors go to <paramref name="report"/> and the zone is skipped; a later zone with the same origin
    /// replaces an earlier one (with a report line).
    /// </summary>
    public static ZoneSet Load(IKeyValueStore? store, IEnumerable<string> files, Action<string> report, out int failed) =>
        Load(store, files, report, out failed, previous: null);

    /// <summary>
    /// Loads the zones again for a reload. A zone whose new version fails to load keeps serving its previous version
    /// from <paramref name="previous"/> (same source), with the errors (file:line:column) reported.
    /// </summary>
    public static ZoneSet Reload(ZoneSet previous, IKeyValueStore? store, IEnumerable<string> files, Action<string> report, out int failed)
    {
        ArgumentNullException.ThrowIfNull(previous);
        return Load(store, files, report, out failed, previous);
    }

    private static ZoneSet Load(IKeyValueStore? store, IEnumerable<string> files, Action<string> report, out int failed, ZoneSet? previous)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(report);
        var results = store is null ? [] : ZoneFile.LoadStore(store);
        foreach (var file in files)
        {
            results.Add(ZoneFile.LoadFile(file));
        }
        var zones = new Dictionary<string, Zone>(StringComparer.Ordinal);
        failed = 0;
        foreach (var result in results)
        {
            if (!result.Success)
            {
                failed++;
                report($"zone {result.Source} not loaded ({result.Errors.Count.ToString(CultureInfo.InvariantCulture)} error(s)):");
                foreach (var error in result.Errors)
                {
                    report("  " + error);
                }
                if (previous is not null)
                {
                    foreach (var old in previous.Zones)
                    {
                        if (old.Source == result.Source)
                        {
                            report($"zone {old.Origin} from {old.Source}: keeping the previous version");
                            zones[old.Origin.Key] = old;
                        }
                    }
                }
                continue;
            }
            foreach (var warning in result.Warnings)
            {
                report("warning: " + warning);
            }
            var zone = result.Zone!;
            if (zones.TryGetValue(zone.Origin.Key, out var earlier))
            {
                report($"zone {zone.Origin} from {zone.Source} replaces the one from {earlier.Source}");
            }
            zones[zone.Origin.Key] = zone;
        }
        return new ZoneSet(zones.Values);
    }
}
