namespace DiffusersSharp.ServeBench;

/// <summary>What a load run saw: statuses, latencies of accepted requests, and the wall time.</summary>
internal sealed record LoadResult(int Requests, int Accepted, int Refused, int Errors, double Seconds, IReadOnlyList<double> LatenciesMs)
{
    public double Throughput => Accepted / Seconds;
    public double Percentile(double p) => LoadRun.Percentile(LatenciesMs, p);
}
