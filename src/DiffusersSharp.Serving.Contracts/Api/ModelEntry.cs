namespace DiffusersSharp.Serving.Api;

/// <summary>A model clients can name: its folder name, pipeline class and whether it is the default.</summary>
public sealed record ModelEntry(string Name, string ClassName, bool Default);
