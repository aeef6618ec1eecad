using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// transformers' <c>CLIPAttention</c> (multi-head self-attention with biased q/k/v/out projections) computed with
/// scaled_dot_product_attention. transformers 4.42 ran the eager path for the fixtures (q·scale, bmm, softmax in the
/// activations' dtype); SDPA computes the same softmax(q·kᵀ/√d + mask)·v, within float32 rounding.
/// </summary>
internal sealed class CLIPAttention : DiffusersModule
{
    private readonly Linear _qProj;
    private readonly Linear _kProj;
    private readonly Linear _vProj;
    private readonly Linear _outProj;
    private readonly int _heads;
    private readonly int _headDim;

    public CLIPAttention(CLIPTextConfig config) : base(nameof(CLIPAttention))
    {
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _kProj = Layers.Linear(config.HiddenSize, config.HiddenSize);
        _vProj = Layers.Linear(config.HiddenSize, config.HiddenSize);
        _qProj = Layers.Linear(config.HiddenSize, config.HiddenSize);
        _outProj = Layers.Linear(config.HiddenSize, config.HiddenSize);
        register_module("k_proj", _kProj);
        register_module("v_proj", _vProj);
        register_module("q_proj", _qProj);
        register_module("out_proj", _outProj);
    }

    /// <summary>
    /// Self-attention of [B, L, C] states. <paramref name="attentionBias"/> is the additive [B, 1, L, L] mask (causal plus
    /// padding) when there is padding to mask; null means causal only.
    /// </summary>
    public Tensor Forward(Tensor hiddenStates, Tensor? attentionBias)
    {
        using var scope = NewDisposeScope();
        var batch = hiddenStates.shape[0];
        var length = hiddenStates.shape[1];
        Tensor Heads(Linear projection) => projection.forward(hiddenStates).view(batch, length, _heads, _headDim).transpose(1, 2);
        var attended = nn.functional.scaled_dot_product_attention(Heads(_qProj), Heads(_kProj), Heads(_vProj), attentionBias, is_casual: attentionBias is null);
        var merged = attended.transpose(1, 2).reshape(batch, length, _heads * _headDim);
        return _outProj.forward(merged).MoveToOuterDisposeScope();
    }
}
