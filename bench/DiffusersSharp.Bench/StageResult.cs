namespace DiffusersSharp.Bench;

/// <summary>One row of the benchmark: what ran, how long it took, its work and its memory.</summary>
/// <param name="Seconds">Median time of one run.</param>
/// <param name="GFlop">Work of one run (see <see cref="FlopCounts"/>), when counted.</param>
/// <param name="PeakMiB">The child process's peak resident memory while the stage ran, weights included.</param>
/// <param name="BeforeMiB">Resident memory just before the measured part (runtime and weights).</param>
/// <param name="EndMiB">Resident memory at the end, where the stage watches it (flat).</param>
/// <param name="LoadAverage">The machine's 1-minute load average as the stage started (this benchmark adds about its thread count).</param>
/// <param name="PeakDeviceMiB">On CUDA: the most GPU memory in use while the stage ran, above what was in use before it (see <see cref="GpuMemorySampler"/>).</param>
internal sealed record StageResult(string Name, string DType, int Size, string Variant, double Seconds, double? GFlop,
    double PeakMiB, double BeforeMiB, double? EndMiB = null, string? Note = null, double? LoadAverage = null, double? PeakDeviceMiB = null)
{
    public double? GFlopPerSecond => GFlop / Seconds;
}
