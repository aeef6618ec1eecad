namespace DiffusersSharp.Server.Tests;

/// <summary>The resilience tests run alone, so that the load run measures its own memory.</summary>
[CollectionDefinition(nameof(ResilienceTests), DisableParallelization = true)]
public sealed class ResilienceCollection;
