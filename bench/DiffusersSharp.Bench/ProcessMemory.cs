namespace DiffusersSharp.Bench;

/// <summary>This process's resident memory as Linux reports it in <c>/proc/self/status</c>.</summary>
internal static class ProcessMemory
{
    /// <summary>Resident set size now (VmRSS), in bytes.</summary>
    public static long ResidentBytes() => Read("VmRSS");

    /// <summary>Largest resident set size since start or the last <see cref="ResetPeak"/> (VmHWM), in bytes.</summary>
    public static long PeakBytes() => Read("VmHWM");

    /// <summary>Starts a new peak from the current resident size (Linux 4.0+: writing 5 to clear_refs).</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    private static long Read(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException($"{field} not found in /proc/self/status.");
    }
}
