namespace DiffusersSharp.Serving;

/// <summary>One request's pictures, PNG-encoded, and the seed they were drawn with.</summary>
public sealed record GenerationOutput(IReadOnlyList<byte[]> Images, long Seed);
