namespace DiffusersSharp.Bench;

/// <summary>The targets, checked against one run's rows (ratios within the run).</summary>
internal static class Targets
{
    public static IReadOnlyList<TargetCheck> Evaluate(IReadOnlyList<StageResult> rows, long weightBytes, int unetSize, int generateSize)
    {
        StageResult? Find(string name, string dtype, int size = 0, string variant = "") =>
            rows.FirstOrDefault(r => r.Name.StartsWith(name, StringComparison.Ordinal) && r.DType == dtype && r.Size == size && r.Variant == variant);

        var checks = new List<TargetCheck>();
        var unet32 = Find("UNet step", "float32", unetSize);
        var unet16 = Find("UNet step", "bfloat16", unetSize);
        checks.Add(unet32 is null || unet16 is null
            ? new TargetCheck("bfloat16 UNet step ≥ 2.5× faster than float32", "not measured", null)
            : Ratio($"bfloat16 UNet step ≥ 2.5× faster than float32 ({unetSize}²)", unet32.Seconds / unet16.Seconds, 2.5,
                $"{unet32.Seconds:F2} s / {unet16.Seconds:F2} s"));

        foreach (var unet in new[] { unet32, unet16 }.OfType<StageResult>())
        {
            var matmul = Find("matmul", unet.DType);
            if (matmul is null) continue;
            checks.Add(Ratio($"{unet.DType} UNet step ≥ 60 % of {unet.DType} matmul throughput ({unetSize}²)",
                unet.GFlopPerSecond!.Value / matmul.GFlopPerSecond!.Value, 0.6,
                $"{unet.GFlopPerSecond:F0} / {matmul.GFlopPerSecond:F0} GFLOP/s", percent: true));
        }

        var generation = Find("generation", "bfloat16", generateSize);
        var limitMiB = 1.5 * weightBytes / (1024.0 * 1024.0) + 1024;
        checks.Add(generation is null
            ? new TargetCheck("16-bit-weights 512² generation peak ≤ 1.5× weights + 1 GiB", "not measured", null)
            : new TargetCheck($"16-bit-weights {generateSize}² generation peak ≤ 1.5× weights + 1 GiB (bfloat16)",
                $"{generation.PeakMiB:F0} MiB peak, limit {limitMiB:F0} MiB ({weightBytes / (1024.0 * 1024.0):F0} MiB of weights)",
                generation.PeakMiB <= limitMiB));

        var flat = rows.FirstOrDefault(r => r.Name.EndsWith("tiny-sd generations", StringComparison.Ordinal));
        checks.Add(flat is null
            ? new TargetCheck("memory flat over 100 generations", "not measured", null)
            : new TargetCheck($"memory flat over {flat.Name.Split(' ')[0]} generations (growth < 16 MiB after warm-up)",
                $"{flat.EndMiB - flat.BeforeMiB:+0.0;-0.0} MiB ({flat.Note})", flat.EndMiB - flat.BeforeMiB < 16));

        var untiled = Find("VAE decode", "float32", 1024);
        var tiled = Find("VAE decode", "float32", 1024, "tiled");
        checks.Add(untiled is null || tiled is null
            ? new TargetCheck("VAE tiling decodes 1024² under half the peak memory of untiled", "not measured", null)
            : Ratio("VAE tiling decodes 1024² under half the peak memory of untiled (float32, decode's own peak)",
                (tiled.PeakMiB - tiled.BeforeMiB) / (untiled.PeakMiB - untiled.BeforeMiB), 0.5,
                $"{tiled.PeakMiB - tiled.BeforeMiB:F0} MiB tiled, {untiled.PeakMiB - untiled.BeforeMiB:F0} MiB untiled; whole process {tiled.PeakMiB:F0} vs {untiled.PeakMiB:F0} MiB",
                percent: true, below: true));
        return checks;
    }

    private static TargetCheck Ratio(string target, double ratio, double goal, string detail, bool percent = false, bool below = false) =>
        new(target, (percent ? $"{ratio:P0}" : $"{ratio:F2}×") + $" ({detail})", below ? ratio < goal : ratio >= goal);
}
