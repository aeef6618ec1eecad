using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiffusersSharp.Loading;

/// <summary>
/// A component's <c>config.json</c> (or <c>scheduler_config.json</c>) with diffusers' key names. Every key read
/// from disk is kept, known or not, so that <see cref="Save"/> writes back what was loaded plus any defaults a model
/// resolved. Typed getters return the diffusers default when a key is absent or null.
/// </summary>
public sealed partial class ModelConfig
{
    private readonly JsonObject _values;

    public ModelConfig() : this(new JsonObject()) { }

    private ModelConfig(JsonObject values) => _values = values;

    /// <summary>Where the config came from, for error messages; null when built in code.</summary>
    public string? Source { get; private init; }

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Config file not found: {path}", path);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(QuoteNonFiniteTokens(File.ReadAllText(path)), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Malformed JSON in {path}: {e.Message}", e);
        }
        if (node is not JsonObject obj)
            throw new InvalidDataException($"Expected a JSON object in {path}.");
        return new ModelConfig(obj) { Source = path };
    }

    public static ModelConfig Parse(string json, string? source = null)
    {
        var node = JsonNode.Parse(QuoteNonFiniteTokens(json)) as JsonObject ?? throw new InvalidDataException($"Expected a JSON object{(source is null ? "" : " in " + source)}.");
        return new ModelConfig(node) { Source = source };
    }

    public IEnumerable<string> Keys => _values.Select(kv => kv.Key);

    public bool Contains(string key) => _values.ContainsKey(key) && _values[key] is not null;

    public JsonNode? this[string key]
    {
        get => _values.TryGetPropertyValue(key, out var v) ? v : null;
        set => _values[key] = value?.DeepClone();
    }

    public ModelConfig Clone() => new((JsonObject)_values.DeepClone()) { Source = Source };

    public string? ClassName => GetNullableString("_class_name");

    public string GetString(string key, string defaultValue) => GetNullableString(key) ?? defaultValue;

    public string? GetNullableString(string key)
    {
        var v = this[key];
        if (v is null) return null;
        if (v is JsonValue jv && jv.TryGetValue<string>(out var s)) return s;
        throw Invalid(key, "a string", v);
    }

    public bool GetBool(string key, bool defaultValue)
    {
        var v = this[key];
        if (v is null) return defaultValue;
        if (v is JsonValue jv && jv.TryGetValue<bool>(out var b)) return b;
        throw Invalid(key, "true or false", v);
    }

    public bool? GetNullableBool(string key) => Contains(key) ? GetBool(key, false) : null;

    public int GetInt(string key, int defaultValue) => GetNullableInt(key) ?? defaultValue;

    public int? GetNullableInt(string key)
    {
        var v = this[key];
        if (v is null) return null;
        var d = ToDouble(key, v);
        if (d != Math.Floor(d)) throw Invalid(key, "an integer", v);
        return (int)d;
    }

    public double GetDouble(string key, double defaultValue) => GetNullableDouble(key) ?? defaultValue;

    public double? GetNullableDouble(string key)
    {
        var v = this[key];
        return v is null ? null : ToDouble(key, v);
    }

    /// <summary>A list value, or a scalar repeated <paramref name="count"/> times (diffusers accepts both for per-block keys).</summary>
    public int[] GetIntList(string key, int count, int defaultValue)
    {
        var v = this[key];
        if (v is null) return Enumerable.Repeat(defaultValue, count).ToArray();
        if (v is JsonArray arr)
        {
            if (arr.Count != count)
                throw new InvalidDataException($"Config key '{key}' in {Source ?? "config"} has {arr.Count} entries; expected {count} (one per block).");
            return arr.Select(x => (int)ToDouble(key, x!)).ToArray();
        }
        return Enumerable.Repeat((int)ToDouble(key, v), count).ToArray();
    }

    public int[]? GetIntArray(string key)
    {
        var v = this[key];
        if (v is null) return null;
        if (v is JsonArray arr) return arr.Select(x => (int)ToDouble(key, x!)).ToArray();
        throw Invalid(key, "a list of integers", v);
    }

    public double[]? GetDoubleArray(string key)
    {
        var v = this[key];
        if (v is null) return null;
        if (v is JsonArray arr) return arr.Select(x => ToDouble(key, x!)).ToArray();
        throw Invalid(key, "a list of numbers", v);
    }

    public string[]? GetStringArray(string key)
    {
        var v = this[key];
        if (v is null) return null;
        if (v is JsonArray arr) return arr.Select(x => x?.GetValue<string>() ?? throw Invalid(key, "a list of strings", v)).ToArray();
        throw Invalid(key, "a list of strings", v);
    }

    /// <summary>Sets a key only if absent, so a loaded value always wins over a resolved default.</summary>
    public void SetDefault(string key, JsonNode? value)
    {
        if (!_values.ContainsKey(key)) _values[key] = value?.DeepClone();
    }

    /// <summary>
    /// Refuses a key whose value is set to something we do not implement: diffusers would honour it and we would
    /// silently draw a different picture. <paramref name="supported"/> returns true for values we implement.
    /// </summary>
    public void RequireSupported(string key, Func<JsonNode?, bool> supported, string what)
    {
        var v = this[key];
        if (!supported(v))
            throw new NotSupportedException($"Unsupported config option {key}={v?.ToJsonString() ?? "null"} in {Source ?? "config"}: DiffusersSharp supports {what}.");
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, ToJson() + "\n");
    }

    public string ToJson()
    {
        var sorted = new JsonObject();
        foreach (var kv in _values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sorted[kv.Key] = kv.Value?.DeepClone();
        // Python's json module writes non-finite floats as bare tokens and reads only those back as floats; it leaves
        // '+' and other HTML-sensitive characters as they are ("dpmsolver++"), which the default encoder would escape.
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        return NonFiniteString().Replace(sorted.ToJsonString(options), "$1$2");
    }

    private static string QuoteNonFiniteTokens(string json) => NonFiniteToken().Replace(json, "$1\"$2\"");

    [System.Text.RegularExpressions.GeneratedRegex(@"([:\[,]\s*)(-?Infinity|NaN)(?=\s*[,\]}])")]
    private static partial System.Text.RegularExpressions.Regex NonFiniteToken();

    [System.Text.RegularExpressions.GeneratedRegex(@"(:\s*)""(-?Infinity|NaN)""")]
    private static partial System.Text.RegularExpressions.Regex NonFiniteString();

    private double ToDouble(string key, JsonNode v)
    {
        if (v is JsonValue jv)
        {
            // Values built in code hold their CLR type (int, long, ...); parsed ones are JsonElements.
            if (jv.GetValueKind() == JsonValueKind.Number)
                return double.Parse(jv.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
            // Non-finite floats are written as strings by our fixtures and as bare tokens by Python's json.
            if (jv.TryGetValue<string>(out var s))
            {
                switch (s)
                {
                    case "-Infinity": return double.NegativeInfinity;
                    case "Infinity": return double.PositiveInfinity;
                    case "NaN": return double.NaN;
                }
            }
        }
        throw Invalid(key, "a number", v);
    }

    private InvalidDataException Invalid(string key, string expected, JsonNode v) =>
        new($"Config key '{key}' in {Source ?? "config"} must be {expected}, got {v.ToJsonString()}.");
}
