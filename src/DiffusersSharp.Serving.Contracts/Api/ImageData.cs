namespace DiffusersSharp.Serving.Api;

/// <summary>One picture: base64 PNG, or a URL on the server when <c>response_format</c> is "url".</summary>
public sealed record ImageData(string? B64Json = null, string? Url = null);
