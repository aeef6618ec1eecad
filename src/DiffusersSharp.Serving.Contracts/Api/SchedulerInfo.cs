namespace DiffusersSharp.Serving.Api;

/// <summary>A scheduler short name, the class it stands for and the config options it sets (JSON values).</summary>
public sealed record SchedulerInfo(string Name, string ClassName, string Description, IReadOnlyDictionary<string, string> Options);
