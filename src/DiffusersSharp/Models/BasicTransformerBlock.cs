using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="BasicTransformerBlock"/>, named as diffusers names them.</summary>
public sealed record BasicTransformerBlockOptions
{
    public double Dropout { get; init; }
    /// <summary>Width of the cross-attention context; null for a block without cross-attention (unless double self-attention).</summary>
    public long? CrossAttentionDim { get; init; }
    public string ActivationFn { get; init; } = "geglu";
    public bool AttentionBias { get; init; }
    /// <summary>attn1 attends to the context instead of to itself.</summary>
    public bool OnlyCrossAttention { get; init; }
    /// <summary>attn2 is a second self-attention (no context projection).</summary>
    public bool DoubleSelfAttention { get; init; }
    public bool UpcastAttention { get; init; }
    public bool NormElementwiseAffine { get; init; } = true;
    public double NormEps { get; init; } = 1e-5;
    public bool FinalDropout { get; init; }
    public long? FfInnerDim { get; init; }
    public bool FfBias { get; init; } = true;
    public bool AttentionOutBias { get; init; } = true;
}

/// <summary>
/// diffusers' <c>BasicTransformerBlock</c> with <c>norm_type="layer_norm"</c> (SD, SDXL): pre-norm self-attention,
/// cross-attention and feed-forward, each added back residually.
/// </summary>
public sealed class BasicTransformerBlock : DiffusersModule
{
    private readonly LayerNorm _norm1;
    private readonly Attention _attn1;
    private readonly LayerNorm? _norm2;
    private readonly Attention? _attn2;
    private readonly LayerNorm _norm3;
    private readonly FeedForward _ff;
    private readonly bool _onlyCrossAttention;

    public BasicTransformerBlock(long dim, int numAttentionHeads, int attentionHeadDim, BasicTransformerBlockOptions? options = null)
        : base(nameof(BasicTransformerBlock))
    {
        options ??= new BasicTransformerBlockOptions();
        _onlyCrossAttention = options.OnlyCrossAttention;

        _norm1 = Layers.LayerNorm(dim, options.NormEps, options.NormElementwiseAffine);
        register_module("norm1", _norm1);
        _attn1 = new Attention(dim, new AttentionOptions
        {
            Heads = numAttentionHeads,
            DimHead = attentionHeadDim,
            Bias = options.AttentionBias,
            CrossAttentionDim = options.OnlyCrossAttention ? options.CrossAttentionDim : null,
            UpcastAttention = options.UpcastAttention,
            OutBias = options.AttentionOutBias,
        });
        register_module("attn1", _attn1);

        if (options.CrossAttentionDim is not null || options.DoubleSelfAttention)
        {
            _norm2 = Layers.LayerNorm(dim, options.NormEps, options.NormElementwiseAffine);
            register_module("norm2", _norm2);
            _attn2 = new Attention(dim, new AttentionOptions
            {
                CrossAttentionDim = options.DoubleSelfAttention ? null : options.CrossAttentionDim,
                Heads = numAttentionHeads,
                DimHead = attentionHeadDim,
                Bias = options.AttentionBias,
                UpcastAttention = options.UpcastAttention,
                OutBias = options.AttentionOutBias,
            });
            register_module("attn2", _attn2);
        }

        _norm3 = Layers.LayerNorm(dim, options.NormEps, options.NormElementwiseAffine);
        register_module("norm3", _norm3);
        _ff = new FeedForward(dim, dropout: options.Dropout, activationFn: options.ActivationFn, finalDropout: options.FinalDropout,
            innerDim: options.FfInnerDim, bias: options.FfBias);
        register_module("ff", _ff);
    }

    /// <param name="hiddenStates">[B, N, dim] tokens.</param>
    /// <param name="attentionMask">Additive bias for attn1.</param>
    /// <param name="encoderHiddenStates">[B, M, cross_attention_dim] context for attn2 (and attn1 when only_cross_attention).</param>
    /// <param name="encoderAttentionMask">Additive bias for attn2.</param>
    public Tensor Forward(Tensor hiddenStates, Tensor? attentionMask = null, Tensor? encoderHiddenStates = null, Tensor? encoderAttentionMask = null)
    {
        using var scope = NewDisposeScope();
        var attnOutput = _attn1.Forward(_norm1.forward(hiddenStates), _onlyCrossAttention ? encoderHiddenStates : null, attentionMask);
        hiddenStates = attnOutput + hiddenStates;
        if (hiddenStates.ndim == 4) hiddenStates = hiddenStates.squeeze(1);

        if (_attn2 is not null)
        {
            attnOutput = _attn2.Forward(_norm2!.forward(hiddenStates), encoderHiddenStates, encoderAttentionMask);
            hiddenStates = attnOutput + hiddenStates;
        }

        hiddenStates = _ff.forward(_norm3.forward(hiddenStates)) + hiddenStates;
        if (hiddenStates.ndim == 4) hiddenStates = hiddenStates.squeeze(1);
        return hiddenStates.MoveToOuterDisposeScope();
    }
}
