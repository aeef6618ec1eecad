using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="Transformer2DModel"/> (continuous input), named as diffusers names them.</summary>
public sealed record Transformer2DModelOptions
{
    public int NumAttentionHeads { get; init; } = 16;
    public int AttentionHeadDim { get; init; } = 88;
    public long? OutChannels { get; init; }
    public int NumLayers { get; init; } = 1;
    public double Dropout { get; init; }
    public int NormNumGroups { get; init; } = 32;
    public long? CrossAttentionDim { get; init; }
    public bool AttentionBias { get; init; }
    public string ActivationFn { get; init; } = "geglu";
    /// <summary>proj_in/proj_out are linear layers over tokens (SD 2.x, SDXL) instead of 1×1 convolutions (SD 1.x).</summary>
    public bool UseLinearProjection { get; init; }
    public bool OnlyCrossAttention { get; init; }
    public bool DoubleSelfAttention { get; init; }
    public bool UpcastAttention { get; init; }
    public bool NormElementwiseAffine { get; init; } = true;
    public double NormEps { get; init; } = 1e-5;
}

/// <summary>
/// diffusers' <c>Transformer2DModel</c> on continuous input (the spatial transformer of the SD/SDXL UNets): group norm,
/// proj_in, a stack of <see cref="BasicTransformerBlock"/> over the H·W tokens, proj_out, plus the input as residual.
/// </summary>
public sealed class Transformer2DModel : DiffusersModule
{
    private readonly GroupNorm _norm;
    private readonly nn.Module<Tensor, Tensor> _projIn;
    private readonly BasicTransformerBlock[] _transformerBlocks;
    private readonly nn.Module<Tensor, Tensor> _projOut;
    private readonly bool _useLinearProjection;

    public Transformer2DModel(long inChannels, Transformer2DModelOptions? options = null) : base(nameof(Transformer2DModel))
    {
        options ??= new Transformer2DModelOptions();
        _useLinearProjection = options.UseLinearProjection;
        var innerDim = (long)options.NumAttentionHeads * options.AttentionHeadDim;
        var outChannels = options.OutChannels ?? inChannels;

        // diffusers fixes this norm's eps at 1e-6 whatever norm_eps says.
        _norm = Layers.GroupNorm(options.NormNumGroups, inChannels, 1e-6, affine: true);
        register_module("norm", _norm);
        _projIn = _useLinearProjection
            ? Layers.Linear(inChannels, innerDim)
            : Layers.Conv2d(inChannels, innerDim, 1, stride: 1, padding: 0);
        register_module("proj_in", _projIn);

        var blockOptions = new BasicTransformerBlockOptions
        {
            Dropout = options.Dropout,
            CrossAttentionDim = options.CrossAttentionDim,
            ActivationFn = options.ActivationFn,
            AttentionBias = options.AttentionBias,
            OnlyCrossAttention = options.OnlyCrossAttention,
            DoubleSelfAttention = options.DoubleSelfAttention,
            UpcastAttention = options.UpcastAttention,
            NormElementwiseAffine = options.NormElementwiseAffine,
            NormEps = options.NormEps,
        };
        _transformerBlocks = Enumerable.Range(0, options.NumLayers)
            .Select(_ => new BasicTransformerBlock(innerDim, options.NumAttentionHeads, options.AttentionHeadDim, blockOptions))
            .ToArray();
        register_module("transformer_blocks", nn.ModuleList(_transformerBlocks));

        _projOut = _useLinearProjection
            ? Layers.Linear(innerDim, outChannels)
            : Layers.Conv2d(innerDim, outChannels, 1, stride: 1, padding: 0);
        register_module("proj_out", _projOut);
    }

    /// <param name="hiddenStates">[B, C, H, W].</param>
    /// <param name="encoderHiddenStates">[B, M, cross_attention_dim] context for cross-attention.</param>
    /// <param name="attentionMask">Self-attention mask: [B, N] keep (1) / discard (0), or an additive bias.</param>
    /// <param name="encoderAttentionMask">Cross-attention mask: [B, M] keep (1) / discard (0), or an additive bias.</param>
    public Tensor Forward(Tensor hiddenStates, Tensor? encoderHiddenStates = null, Tensor? attentionMask = null, Tensor? encoderAttentionMask = null)
    {
        using var scope = NewDisposeScope();
        // 2-D masks are keep/discard flags; diffusers turns them into a -10000 bias with a singleton query axis.
        if (attentionMask is { ndim: 2 })
            attentionMask = ((1 - attentionMask.to(hiddenStates.dtype)) * -10000.0).unsqueeze(1);
        if (encoderAttentionMask is { ndim: 2 })
            encoderAttentionMask = ((1 - encoderAttentionMask.to(hiddenStates.dtype)) * -10000.0).unsqueeze(1);

        long batch = hiddenStates.shape[0], height = hiddenStates.shape[2], width = hiddenStates.shape[3];
        var residual = hiddenStates;
        var h = _norm.forward(hiddenStates);
        long innerDim;
        if (!_useLinearProjection)
        {
            h = _projIn.forward(h);
            innerDim = h.shape[1];
            h = h.permute(0, 2, 3, 1).reshape(batch, height * width, innerDim);
        }
        else
        {
            innerDim = h.shape[1];
            h = _projIn.forward(h.permute(0, 2, 3, 1).reshape(batch, height * width, innerDim));
        }

        foreach (var block in _transformerBlocks)
            h = block.Forward(h, attentionMask, encoderHiddenStates, encoderAttentionMask);

        if (!_useLinearProjection)
            h = _projOut.forward(h.reshape(batch, height, width, innerDim).permute(0, 3, 1, 2).contiguous());
        else
            h = _projOut.forward(h).reshape(batch, height, width, innerDim).permute(0, 3, 1, 2).contiguous();

        return (h + residual).MoveToOuterDisposeScope();
    }
}
