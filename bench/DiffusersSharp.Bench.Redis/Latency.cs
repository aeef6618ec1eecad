namespace DiffusersSharp.Bench.Redis;

internal sealed record Latency(IReadOnlyList<double> Milliseconds)
{
    public double P50 => Percentile(0.5);

    public double P90 => Percentile(0.9);

    private double Percentile(double p)
    {
        var sorted = Milliseconds.Order().ToArray();
        return sorted[(int)Math.Min(sorted.Length - 1, Math.Round(p * (sorted.Length - 1)))];
    }
}
