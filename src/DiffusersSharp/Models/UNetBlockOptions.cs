namespace DiffusersSharp.Models;

/// <summary>
/// Constructor arguments shared by the UNet blocks (diffusers' <c>get_down_block</c> / <c>get_up_block</c> /
/// <c>get_mid_block</c> arguments); each block reads the ones it uses.
/// </summary>
public sealed record UNetBlockOptions
{
    public required long InChannels { get; init; }
    public required long OutChannels { get; init; }
    /// <summary>Channels coming from the previous up block (up blocks only).</summary>
    public long PrevOutputChannel { get; init; }
    /// <summary>Width of the time embedding fed to every resnet; null for blocks without one.</summary>
    public long? TembChannels { get; init; }
    public int NumLayers { get; init; } = 1;
    /// <summary>Transformer depth of each layer's <see cref="Transformer2DModel"/>, one entry per layer; null means 1 each.</summary>
    public IReadOnlyList<int>? TransformerLayersPerBlock { get; init; }
    public double ResnetEps { get; init; } = 1e-6;
    public string ResnetActFn { get; init; } = "swish";
    public int ResnetGroups { get; init; } = 32;
    public string ResnetTimeScaleShift { get; init; } = "default";
    public double OutputScaleFactor { get; init; } = 1.0;
    public double Dropout { get; init; }
    public bool AddDownsample { get; init; } = true;
    public bool AddUpsample { get; init; } = true;
    public int DownsamplePadding { get; init; } = 1;
    /// <summary>Heads of the cross-attention blocks' transformers (their head width is out_channels / heads).</summary>
    public int NumAttentionHeads { get; init; } = 1;
    /// <summary>Head width of the plain-attention blocks (their head count is channels / width); null means one head.</summary>
    public int? AttentionHeadDim { get; init; }
    public long CrossAttentionDim { get; init; } = 1280;
    public bool UseLinearProjection { get; init; }
    public bool OnlyCrossAttention { get; init; }
    public bool UpcastAttention { get; init; }
    /// <summary>Group norm groups of <see cref="UNetMidBlock2D"/>'s attention; null lets the block choose as diffusers does.</summary>
    public int? AttnGroups { get; init; }
    /// <summary>Whether <see cref="UNetMidBlock2D"/> has attention between its resnets.</summary>
    public bool AddAttention { get; init; } = true;

    internal int TransformerLayers(int layer) => TransformerLayersPerBlock is { } list ? list[layer] : 1;

    internal ResnetBlock2DOptions Resnet(long outChannels) => new()
    {
        OutChannels = outChannels,
        TembChannels = TembChannels,
        Groups = ResnetGroups,
        Eps = ResnetEps,
        NonLinearity = ResnetActFn,
        TimeEmbeddingNorm = ResnetTimeScaleShift,
        OutputScaleFactor = OutputScaleFactor,
        Dropout = Dropout,
    };

    internal Transformer2DModelOptions Transformer(int layer) => new()
    {
        NumAttentionHeads = NumAttentionHeads,
        AttentionHeadDim = checked((int)(OutChannels / NumAttentionHeads)),
        NumLayers = TransformerLayers(layer),
        CrossAttentionDim = CrossAttentionDim,
        NormNumGroups = ResnetGroups,
        UseLinearProjection = UseLinearProjection,
        OnlyCrossAttention = OnlyCrossAttention,
        UpcastAttention = UpcastAttention,
    };

    /// <summary>The self-attention of the plain-attention blocks (diffusers' deprecated attention block layout).</summary>
    internal AttentionOptions SpatialAttention(long channels, int? normGroups)
    {
        var headDim = AttentionHeadDim ?? checked((int)channels);
        return new AttentionOptions
        {
            Heads = checked((int)(channels / headDim)),
            DimHead = headDim,
            RescaleOutputFactor = OutputScaleFactor,
            Eps = ResnetEps,
            NormNumGroups = normGroups,
            ResidualConnection = true,
            Bias = true,
        };
    }
}
