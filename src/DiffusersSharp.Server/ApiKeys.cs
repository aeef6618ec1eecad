using System.Security.Cryptography;
using System.Text;

namespace DiffusersSharp.Server;

/// <summary>The configured keys, held only as SHA-256 hashes, and the lookup of a presented key.</summary>
public sealed class ApiKeys
{
    private readonly IReadOnlyList<(byte[] Hash, ApiKeyEntry Entry)> _keys;

    public ApiKeys(ServerOptions options)
    {
        var entries = options.ApiKeys.ToList();
        if (!string.IsNullOrEmpty(options.ApiKey))
            entries.Add(new ApiKeyEntry { Name = "cli", Sha256 = Hash(options.ApiKey), Admin = true });
        _keys = entries.Select(e => (ParseHash(e), e)).ToList();
    }

    /// <summary>False when no key is configured: the API is then open, as for localhost development.</summary>
    public bool Enabled => _keys.Count > 0;

    /// <summary>The entry whose hash matches <paramref name="key"/>, compared in constant time, or null.</summary>
    public ApiKeyEntry? Find(string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        ApiKeyEntry? found = null;
        foreach (var (h, entry) in _keys)
            if (CryptographicOperations.FixedTimeEquals(h, hash)) found = entry;
        return found;
    }

    /// <summary>The hex SHA-256 of a key, as stored in configuration.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static byte[] ParseHash(ApiKeyEntry entry)
    {
        try
        {
            var bytes = Convert.FromHexString(entry.Sha256);
            if (bytes.Length == 32) return bytes;
        }
        catch (FormatException) { }
        throw new InvalidOperationException($"API key '{entry.Name}': Sha256 must be 64 hex digits (the SHA-256 of the key).");
    }
}
