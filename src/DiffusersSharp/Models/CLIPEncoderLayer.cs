using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>transformers' <c>CLIPEncoderLayer</c>: pre-norm self-attention and MLP, each with a residual connection.</summary>
internal sealed class CLIPEncoderLayer : DiffusersModule
{
    private readonly CLIPAttention _selfAttn;
    private readonly LayerNorm _layerNorm1;
    private readonly CLIPMLP _mlp;
    private readonly LayerNorm _layerNorm2;

    public CLIPEncoderLayer(CLIPTextConfig config) : base(nameof(CLIPEncoderLayer))
    {
        _selfAttn = new CLIPAttention(config);
        _layerNorm1 = Layers.LayerNorm(config.HiddenSize, config.LayerNormEps);
        _mlp = new CLIPMLP(config);
        _layerNorm2 = Layers.LayerNorm(config.HiddenSize, config.LayerNormEps);
        register_module("self_attn", _selfAttn);
        register_module("layer_norm1", _layerNorm1);
        register_module("mlp", _mlp);
        register_module("layer_norm2", _layerNorm2);
    }

    public Tensor Forward(Tensor hiddenStates, Tensor? attentionBias)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates + _selfAttn.Forward(_layerNorm1.forward(hiddenStates), attentionBias);
        h = h + _mlp.Forward(_layerNorm2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}
