using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="Attention"/>, named as diffusers' <c>Attention</c> names them.</summary>
public sealed record AttentionOptions
{
    public long? CrossAttentionDim { get; init; }
    public int Heads { get; init; } = 8;
    public int DimHead { get; init; } = 64;
    public bool Bias { get; init; }
    public bool OutBias { get; init; } = true;
    public bool UpcastAttention { get; init; }
    public int? NormNumGroups { get; init; }
    public double Eps { get; init; } = 1e-5;
    public double RescaleOutputFactor { get; init; } = 1.0;
    public bool ResidualConnection { get; init; }
    public long? OutDim { get; init; }
}

/// <summary>
/// diffusers' <c>Attention</c> with the scaled-dot-product processor (<c>AttnProcessor2_0</c>): multi-head attention
/// over tokens, or over the pixels of a [B,C,H,W] map, with optional group norm and residual connection.
/// </summary>
public sealed class Attention : DiffusersModule
{
    private readonly GroupNorm? _groupNorm;
    private readonly Linear _toQ;
    private readonly Linear _toK;
    private readonly Linear _toV;
    private readonly Linear _toOut;
    private readonly int _heads;
    private readonly double _rescaleOutputFactor;
    private readonly bool _residualConnection;
    private int? _sliceSize;

    public Attention(long queryDim, AttentionOptions? options = null) : base(nameof(Attention))
    {
        options ??= new AttentionOptions();
        var innerDim = options.OutDim ?? (long)options.DimHead * options.Heads;
        _heads = options.OutDim is { } outDim ? (int)(outDim / options.DimHead) : options.Heads;
        _rescaleOutputFactor = options.RescaleOutputFactor;
        _residualConnection = options.ResidualConnection;
        var crossDim = options.CrossAttentionDim ?? queryDim;

        if (options.NormNumGroups is { } groups)
        {
            _groupNorm = Layers.GroupNorm(groups, queryDim, options.Eps, affine: true);
            register_module("group_norm", _groupNorm);
        }
        _toQ = Layers.Linear(queryDim, innerDim, hasBias: options.Bias);
        _toK = Layers.Linear(crossDim, innerDim, hasBias: options.Bias);
        _toV = Layers.Linear(crossDim, innerDim, hasBias: options.Bias);
        _toOut = Layers.Linear(innerDim, options.OutDim ?? queryDim, hasBias: options.OutBias);
        register_module("to_q", _toQ);
        register_module("to_k", _toK);
        register_module("to_v", _toV);
        // diffusers keeps [Linear, Dropout] in to_out; only index 0 has weights.
        register_module("to_out", nn.ModuleList<nn.Module<Tensor, Tensor>>(_toOut, nn.Dropout(0.0)));
    }

    /// <summary>Heads per attention call; diffusers' <c>sliceable_head_dim</c>, the largest <see cref="SliceSize"/>.</summary>
    public int Heads => _heads;

    /// <summary>
    /// diffusers' <c>set_attention_slice</c>: compute attention over at most this many (batch × head) rows at a time
    /// (<c>SlicedAttnProcessor</c>), or all at once when null.
    /// </summary>
    public int? SliceSize
    {
        get => _sliceSize;
        set
        {
            if (value is { } size && (size < 1 || size > _heads))
                throw new ArgumentOutOfRangeException(nameof(value), size, $"Attention slice size must be in [1, {_heads}] (the number of heads).");
            _sliceSize = value;
        }
    }

    /// <summary>
    /// Attention of <paramref name="hiddenStates"/> ([B,N,C] or [B,C,H,W]) over itself, or over
    /// <paramref name="encoderHiddenStates"/> ([B,M,Ccross]) when given.
    /// </summary>
    public Tensor Forward(Tensor hiddenStates, Tensor? encoderHiddenStates = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var residual = hiddenStates;
        var inputNdim = hiddenStates.ndim;
        long batch = hiddenStates.shape[0], channels = 0, height = 0, width = 0;
        if (inputNdim == 4)
        {
            channels = hiddenStates.shape[1];
            height = hiddenStates.shape[2];
            width = hiddenStates.shape[3];
            hiddenStates = hiddenStates.view(batch, channels, height * width).transpose(1, 2);
        }
        if (_groupNorm is not null)
            hiddenStates = _groupNorm.forward(hiddenStates.transpose(1, 2)).transpose(1, 2);

        var context = encoderHiddenStates ?? hiddenStates;
        var query = _toQ.forward(hiddenStates);
        var key = _toK.forward(context);
        var value = _toV.forward(context);
        var headDim = key.shape[^1] / _heads;
        query = query.view(batch, -1, _heads, headDim).transpose(1, 2);
        key = key.view(batch, -1, _heads, headDim).transpose(1, 2);
        value = value.view(batch, -1, _heads, headDim).transpose(1, 2);

        if (attentionMask is not null)
            attentionMask = PrepareAttentionMask(attentionMask, key.shape[2], batch);
        var attended = _sliceSize is { } sliceSize
            ? SlicedAttention(query, key, value, attentionMask, sliceSize)
            : nn.functional.scaled_dot_product_attention(query, key, value, attentionMask);
        attended = attended.transpose(1, 2).reshape(batch, -1, _heads * headDim).to(query.dtype);
        var output = _toOut.forward(attended);

        if (inputNdim == 4)
            output = output.transpose(-1, -2).reshape(batch, channels, height, width);
        if (_residualConnection)
            output = output + residual;
        if (_rescaleOutputFactor != 1.0)
            output = output / _rescaleOutputFactor;
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Scaled-dot-product attention over (batch × head) rows <paramref name="sliceSize"/> at a time, as diffusers'
    /// <c>SlicedAttnProcessor</c> slices them: [B,H,L,D] queries become B·H rows, each slice runs on its own.
    /// </summary>
    private static Tensor SlicedAttention(Tensor query, Tensor key, Tensor value, Tensor? mask, int sliceSize)
    {
        long batch = query.shape[0], heads = query.shape[1], rows = batch * heads;
        var q = query.reshape(rows, query.shape[2], -1);
        var k = key.reshape(rows, key.shape[2], -1);
        var v = value.reshape(rows, value.shape[2], -1);
        var m = mask?.expand(batch, heads, mask.shape[2], mask.shape[3]).reshape(rows, mask.shape[2], -1);
        var output = empty(rows, q.shape[1], v.shape[2], dtype: query.dtype, device: query.device);
        for (long start = 0; start < rows; start += sliceSize)
        {
            using var sliceScope = NewDisposeScope();
            var length = Math.Min(sliceSize, rows - start);
            // Slices stay 4-D, [1, rows, L, D]: libtorch picks its fused CPU kernel only for 4-D inputs, and the
            // unsliced call uses it, so both compute the same sums in the same order.
            var attended = nn.functional.scaled_dot_product_attention(q.narrow(0, start, length).unsqueeze(0),
                k.narrow(0, start, length).unsqueeze(0), v.narrow(0, start, length).unsqueeze(0), m?.narrow(0, start, length).unsqueeze(0));
            output.narrow(0, start, length).copy_(attended.squeeze(0));
        }
        return output.view(batch, heads, q.shape[1], -1);
    }

    /// <summary>
    /// diffusers' <c>prepare_attention_mask</c> followed by the SDPA processor's reshape: an additive bias of shape
    /// [B,Lk], [B,Lq|1,Lk] or [B·heads,Lq|1,Lk] becomes [B,heads|1,Lq|1,Lk].
    /// </summary>
    private Tensor PrepareAttentionMask(Tensor mask, long keyLength, long batch)
    {
        // diffusers "pads" a mask of the wrong length by the key length, which then fails inside SDPA; say why instead.
        if (mask.shape[^1] != keyLength)
            throw new ArgumentException($"Attention mask covers {mask.shape[^1]} keys but attention has {keyLength}.", nameof(mask));
        if (mask.ndim == 2) mask = mask.unsqueeze(1);
        // diffusers repeats a per-sample mask once per head; broadcasting over the head axis gives the same result without the copy.
        if (mask.shape[0] == batch) return mask.view(batch, 1, -1, keyLength);
        if (mask.shape[0] == batch * _heads) return mask.view(batch, _heads, -1, keyLength);
        throw new ArgumentException($"Attention mask of shape [{string.Join(", ", mask.shape)}] fits neither batch {batch} nor batch × heads {batch * _heads}.", nameof(mask));
    }
}
