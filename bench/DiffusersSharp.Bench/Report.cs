using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DiffusersSharp.Bench;

/// <summary>The run's table (Markdown, for stdout and bench/README.md) and its JSON file.</summary>
internal static class Report
{
    public const string Header =
        "| stage | dtype | size | variant | s | GFLOP | GFLOP/s | of matmul | peak MiB | Δ MiB | device peak MiB | load |\n" +
        "|---|---|---|---|---|---|---|---|---|---|---|---|";

    public static string Row(StageResult r, IReadOnlyList<StageResult> rows)
    {
        var matmul = rows.FirstOrDefault(m => m.Name.StartsWith("matmul", StringComparison.Ordinal) && m.DType == r.DType);
        var ofMatmul = r.GFlopPerSecond is { } rate && matmul?.GFlopPerSecond is { } peak ? (rate / peak).ToString("P0", CultureInfo.InvariantCulture) : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"| {r.Name} | {r.DType} | {(r.Size > 0 ? $"{r.Size}²" : "")} | {r.Variant} | {r.Seconds:F3} | {r.GFlop:F1} | {r.GFlopPerSecond:F0} | {ofMatmul} | {r.PeakMiB:F0} | {(r.BeforeMiB > 0 ? (r.PeakMiB - r.BeforeMiB).ToString("F0", CultureInfo.InvariantCulture) : "")} | {r.PeakDeviceMiB:F0} | {r.LoadAverage:F1} |");
    }

    public static string Table(IReadOnlyList<StageResult> rows)
    {
        var text = new StringBuilder(Header).AppendLine();
        foreach (var r in rows) text.AppendLine(Row(r, rows));
        return text.ToString();
    }

    public static string TargetTable(IReadOnlyList<TargetCheck> checks)
    {
        var text = new StringBuilder("| target | measured | met |\n|---|---|---|\n");
        foreach (var c in checks)
            text.AppendLine($"| {c.Target} | {c.Measured} | {c.Met switch { true => "yes", false => "no", null => "–" }} |");
        return text.ToString();
    }

    public static void WriteJson(string path, RunInfo info, IReadOnlyList<StageResult> rows, IReadOnlyList<TargetCheck> checks)
    {
        var document = new { info, results = rows, targets = checks };
        File.WriteAllText(path, JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }));
    }
}
