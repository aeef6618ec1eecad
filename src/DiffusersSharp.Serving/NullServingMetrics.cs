namespace DiffusersSharp.Serving;

/// <summary>Counts nothing.</summary>
public sealed class NullServingMetrics : IServingMetrics
{
    public static NullServingMetrics Instance { get; } = new();

    private NullServingMetrics() { }
}
