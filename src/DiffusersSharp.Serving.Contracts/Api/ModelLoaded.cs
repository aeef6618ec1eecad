namespace DiffusersSharp.Serving.Api;

/// <summary>The answer of <c>POST /v1/models/{name}/load</c>.</summary>
public sealed record ModelLoaded(string Model, double Seconds);
