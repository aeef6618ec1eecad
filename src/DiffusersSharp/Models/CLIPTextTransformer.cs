using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// transformers' <c>CLIPTextTransformer</c> (the <c>text_model</c> of both CLIP text models): embeddings, causal
/// encoder, final layer norm, and the pooled state of each sequence's end-of-text token.
/// </summary>
public sealed class CLIPTextTransformer : DiffusersModule
{
    private readonly CLIPTextEmbeddings _embeddings;
    private readonly CLIPEncoder _encoder;
    private readonly long _eosTokenId;

    internal CLIPTextTransformer(CLIPTextConfig config) : base(nameof(CLIPTextTransformer))
    {
        _eosTokenId = config.EosTokenId;
        _embeddings = new CLIPTextEmbeddings(config);
        _encoder = new CLIPEncoder(config);
        FinalLayerNorm = Layers.LayerNorm(config.HiddenSize, config.LayerNormEps);
        register_module("embeddings", _embeddings);
        register_module("encoder", _encoder);
        register_module("final_layer_norm", FinalLayerNorm);
    }

    /// <summary>The final layer norm; diffusers applies it to <c>hidden_states[-(clip_skip + 1)]</c> for clip_skip.</summary>
    public LayerNorm FinalLayerNorm { get; }

    /// <summary>
    /// Encodes [B, L] token ids. <paramref name="attentionMask"/> ([B, L], 1 = token, 0 = padding) additionally hides
    /// padding; diffusers' CLIP pipelines pass none. <paramref name="outputHiddenStates"/> keeps every layer's states.
    /// </summary>
    public CLIPTextOutput Forward(Tensor inputIds, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var device = FinalLayerNorm.weight!.device;
        var ids = inputIds.to(ScalarType.Int64, device);
        var embeddings = _embeddings.Forward(ids);
        var bias = attentionMask is null ? null : AttentionBias(attentionMask.to(device), embeddings.dtype);
        var states = _encoder.Forward(embeddings, bias);
        var lastHiddenState = FinalLayerNorm.forward(states[^1]);

        // Configs with the legacy eos_token_id 2 (all SD/SDXL text encoders) pool at argmax(ids): the first
        // <|endoftext|>, the largest id. Newer configs pool at the first occurrence of eos_token_id.
        var eosPositions = _eosTokenId == 2
            ? ids.to(ScalarType.Int32).argmax(-1)
            : ids.to(ScalarType.Int32).eq(_eosTokenId).to(ScalarType.Int32).argmax(-1);
        var rows = arange(ids.shape[0], ScalarType.Int64, device);
        var pooled = lastHiddenState.index(TensorIndex.Tensor(rows), TensorIndex.Tensor(eosPositions));

        var hiddenStates = outputHiddenStates ? states.Select(s => s.MoveToOuterDisposeScope()).ToList() : null;
        return new CLIPTextOutput(lastHiddenState.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope(), hiddenStates);
    }

    /// <summary>
    /// transformers' causal mask plus its expanded padding mask: finfo.min above the diagonal and at padded keys,
    /// summed as transformers sums them, as an additive [B, 1, L, L] bias.
    /// </summary>
    private static Tensor AttentionBias(Tensor attentionMask, ScalarType dtype)
    {
        var length = attentionMask.shape[^1];
        var min = finfo(dtype).min;
        var causal = full(length, length, min, dtype, attentionMask.device).triu(1).view(1, 1, length, length);
        var padding = (1.0 - attentionMask.to(dtype).view(attentionMask.shape[0], 1, 1, length)) * min;
        return causal + padding;
    }
}
