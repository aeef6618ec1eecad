namespace DiffusersSharp.Serving.Api;

/// <summary>The answer of <c>GET /v1/schedulers</c>: short names, and every scheduler class.</summary>
public sealed record SchedulerList(IReadOnlyList<SchedulerInfo> Aliases, IReadOnlyList<string> Classes);
