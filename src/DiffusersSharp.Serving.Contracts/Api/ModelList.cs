namespace DiffusersSharp.Serving.Api;

/// <summary>The answer of <c>GET /v1/models</c>: the models in the models folder, and the names of those loaded now.</summary>
public sealed record ModelList(IReadOnlyList<ModelEntry> Models, IReadOnlyList<string> Loaded);
