using System.Security.Cryptography;
using System.Text.Json;

namespace DiffusersSharp.Serving.Redis;

/// <summary>The result-cache key of a request: a hash of everything that decides its pictures, or null when they are not deterministic (no seed).</summary>
internal static class RequestFingerprint
{
    public static string? Of(GenerationRequest request) =>
        request.Seed is null ? null : Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request)));
}
