namespace DiffusersSharp.Bench;

/// <summary>One of the targets: what it asks, what this run measured, and whether that meets it (null: not measured).</summary>
internal sealed record TargetCheck(string Target, string Measured, bool? Met);
