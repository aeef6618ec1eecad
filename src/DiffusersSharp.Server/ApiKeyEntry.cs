namespace DiffusersSharp.Server;

/// <summary>One API key: a name for logs and rate limits, the SHA-256 of the key (hex), and whether it may load models.</summary>
public sealed record ApiKeyEntry
{
    public required string Name { get; init; }
    public required string Sha256 { get; init; }
    public bool Admin { get; init; }
    /// <summary>This key's own rate, overriding <see cref="ServerOptions.RequestsPerMinute"/>.</summary>
    public int? RequestsPerMinute { get; init; }
}
