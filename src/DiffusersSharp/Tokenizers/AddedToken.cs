using System.Text.Json.Nodes;

namespace DiffusersSharp.Tokenizers;

/// <summary>
/// transformers' <c>AddedToken</c>: a token matched in the raw text before any normalisation and never split.
/// <see cref="LStrip"/>/<see cref="RStrip"/> make it swallow whitespace beside it; <see cref="SingleWord"/> keeps it
/// from matching inside a word.
/// </summary>
public sealed record AddedToken(string Content, bool LStrip = false, bool RStrip = false, bool SingleWord = false, bool Normalized = true, bool Special = false)
{
    /// <summary>Reads a token as tokenizer_config.json / special_tokens_map.json write it: a string or an object.</summary>
    internal static AddedToken? FromJson(JsonNode? node, bool special, string source)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when v.TryGetValue<string>(out var s):
                // A bare string gets transformers' defaults; special tokens are not normalised.
                return new AddedToken(s, Normalized: !special, Special: special);
            case JsonObject o:
                var content = o["content"]?.GetValue<string>() ?? throw new InvalidDataException($"A token in {source} has no 'content'.");
                return new AddedToken(content,
                    LStrip: Flag(o, "lstrip", false), RStrip: Flag(o, "rstrip", false), SingleWord: Flag(o, "single_word", false),
                    Normalized: Flag(o, "normalized", !special), Special: Flag(o, "special", special));
            default:
                throw new InvalidDataException($"A token in {source} is neither a string nor an object: {node.ToJsonString()}.");
        }
    }

    private static bool Flag(JsonObject o, string key, bool defaultValue) =>
        o[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : defaultValue;

    internal JsonObject ToJson() => new()
    {
        ["content"] = Content,
        ["lstrip"] = LStrip,
        ["normalized"] = Normalized,
        ["rstrip"] = RStrip,
        ["single_word"] = SingleWord,
        ["special"] = Special,
    };
}
