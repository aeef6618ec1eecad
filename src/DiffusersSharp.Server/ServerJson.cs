using System.Text.Json;
using System.Text.Json.Serialization;

namespace DiffusersSharp.Server;

/// <summary>The API's JSON: snake_case names, numbers only as numbers (so "NaN" or "8" in a number field is a field error).</summary>
public static class ServerJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.General));

    /// <summary>Applies the API's settings to <paramref name="options"/> (also used for ASP.NET's own JSON options).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.PropertyNameCaseInsensitive = false;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return options;
    }
}
