using DiffusersSharp.Loading;

namespace DiffusersSharp.Models;

/// <summary>
/// transformers' <c>CLIPTextConfig</c>, resolved from config.json with transformers' defaults. Resolving writes the
/// defaults back into the <see cref="ModelConfig"/>, so a saved config.json is complete.
/// </summary>
public sealed record CLIPTextConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int ProjectionDim,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int MaxPositionEmbeddings,
    string HiddenAct,
    double LayerNormEps,
    long EosTokenId)
{
    private static readonly string[] SupportedActivations = ["quick_gelu", "gelu"];

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public static CLIPTextConfig From(ModelConfig config)
    {
        int Int(string key, int defaultValue)
        {
            var value = config.GetInt(key, defaultValue);
            config.SetDefault(key, value);
            return value;
        }

        var resolved = new CLIPTextConfig(
            VocabSize: Int("vocab_size", 49408),
            HiddenSize: Int("hidden_size", 512),
            IntermediateSize: Int("intermediate_size", 2048),
            ProjectionDim: Int("projection_dim", 512),
            NumHiddenLayers: Int("num_hidden_layers", 12),
            NumAttentionHeads: Int("num_attention_heads", 8),
            MaxPositionEmbeddings: Int("max_position_embeddings", 77),
            HiddenAct: config.GetString("hidden_act", "quick_gelu"),
            LayerNormEps: config.GetDouble("layer_norm_eps", 1e-5),
            EosTokenId: Int("eos_token_id", 49407));
        config.SetDefault("hidden_act", resolved.HiddenAct);
        config.SetDefault("layer_norm_eps", resolved.LayerNormEps);
        config.SetDefault("bos_token_id", 49406);
        config.SetDefault("pad_token_id", 1);
        config.SetDefault("model_type", "clip_text_model");

        var source = config.Source ?? "config";
        if (!SupportedActivations.Contains(resolved.HiddenAct))
            throw new NotSupportedException($"Unsupported hidden_act '{resolved.HiddenAct}' in {source}: DiffusersSharp's CLIP text model supports {string.Join(" and ", SupportedActivations)}.");
        if (resolved.NumAttentionHeads <= 0 || resolved.HiddenSize % resolved.NumAttentionHeads != 0)
            throw new InvalidDataException($"hidden_size ({resolved.HiddenSize}) in {source} must be divisible by num_attention_heads ({resolved.NumAttentionHeads}).");
        return resolved;
    }
}
