using System.Text.Json.Nodes;
using DiffusersSharp.Loading;

namespace DiffusersSharp.Models;

/// <summary>
/// Reads the per-block config keys that <see cref="UNet2DConditionModel"/> and <see cref="ControlNetModel"/> share
/// (diffusers' ControlNetModel copies the UNet's down path and mid block, and takes the same keys the same way).
/// </summary>
internal static class UNetConfigReader
{
    public static bool IsNull(JsonNode? v) => v is null;

    public static bool Is(JsonNode? v, bool value) => v is JsonValue jv && jv.TryGetValue<bool>(out var b) && b == value;

    public static bool Is(JsonNode? v, string value) => v is JsonValue jv && jv.TryGetValue<string>(out var s) && s == value;

    public static bool AllStrings(JsonNode? v, Func<string, bool> supported) =>
        v is null || v is JsonArray a && a.All(x => x is JsonValue jv && jv.TryGetValue<string>(out var s) && supported(s));

    /// <summary>A bool or a per-block list of bools.</summary>
    public static bool[] ReadBoolList(ModelConfig config, string key, int count)
    {
        if (config[key] is not JsonArray array) return Enumerable.Repeat(config.GetBool(key, false), count).ToArray();
        if (array.Count != count)
            throw Invalid(config, $"Config key '{key}' has {array.Count} entries; expected {count} (one per block).");
        return array.Select(x => x is JsonValue jv && jv.TryGetValue<bool>(out var b) ? b : throw Invalid(config, $"Config key '{key}' must hold true or false, got {x?.ToJsonString() ?? "null"}.")).ToArray();
    }

    /// <summary>
    /// transformer_layers_per_block: an int for every block, or one entry per down block that is an int or a per-layer
    /// list. Entries stay JSON so that each block can expand them as diffusers does (see <see cref="PerLayer"/>).
    /// </summary>
    public static JsonNode[] ReadTransformerLayers(ModelConfig config, int count)
    {
        const string key = "transformer_layers_per_block";
        var v = config[key];
        if (v is not JsonArray array) return Enumerable.Repeat<JsonNode>(JsonValue.Create(config.GetInt(key, 1)), count).ToArray();
        if (array.Count != count)
            throw Invalid(config, $"Config key '{key}' has {array.Count} entries; expected {count} (one per block).");
        return array.Select(x => x ?? throw Invalid(config, $"Config key '{key}' has a null entry.")).ToArray();
    }

    /// <summary>One block's transformer depth per layer: an int repeated, or the first <paramref name="numLayers"/> of a list.</summary>
    public static int[] PerLayer(ModelConfig config, string key, JsonNode entry, int numLayers)
    {
        if (entry is JsonArray list)
        {
            if (list.Count < numLayers)
                throw Invalid(config, $"Config key '{key}' lists {list.Count} transformer depths for a block with {numLayers} layers.");
            return list.Take(numLayers).Select(x => x!.GetValue<int>()).ToArray();
        }
        return Enumerable.Repeat(entry.GetValue<int>(), numLayers).ToArray();
    }

    /// <summary><c>sample_size</c>: an integer for square models or [height, width]; null when absent.</summary>
    public static (int Height, int Width)? ReadSampleSize(ModelConfig config) => config["sample_size"] switch
    {
        null => null,
        JsonArray => config.GetIntArray("sample_size") is [var h, var w] ? (h, w) : throw Invalid(config, "sample_size must be an integer or [height, width]."),
        _ => (config.GetInt("sample_size", 0), config.GetInt("sample_size", 0)),
    };

    public static InvalidDataException Invalid(ModelConfig config, string message) =>
        new($"{message} ({config.Source ?? "config"})");
}
