using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>ControlNetConditioningEmbedding</c> (Zhang et al., 2023): a small convolutional encoder that takes the
/// control image from pixel space down to the latent resolution. conv_in, then for each step between two widths a
/// same-width 3×3 convolution and a stride-2 3×3 convolution, SiLU after every one of them, and the (zero-initialised)
/// conv_out to the ControlNet's first block width.
/// </summary>
public sealed class ControlNetConditioningEmbedding : DiffusersModule
{
    private readonly Conv2d _convIn;
    private readonly Conv2d[] _blocks;
    private readonly Conv2d _convOut;

    /// <param name="conditioningEmbeddingChannels">Output width: the ControlNet's <c>block_out_channels[0]</c>.</param>
    /// <param name="conditioningChannels">Channels of the control image (3 for RGB).</param>
    /// <param name="blockOutChannels">Config <c>conditioning_embedding_out_channels</c>; each entry after the first halves the resolution.</param>
    public ControlNetConditioningEmbedding(long conditioningEmbeddingChannels, long conditioningChannels, IReadOnlyList<int> blockOutChannels)
        : base(nameof(ControlNetConditioningEmbedding))
    {
        if (blockOutChannels.Count == 0)
            throw new ArgumentException("conditioning_embedding_out_channels must list at least one width.", nameof(blockOutChannels));
        _convIn = nn.Conv2d(conditioningChannels, blockOutChannels[0], 3, padding: 1);
        register_module("conv_in", _convIn);
        var blocks = new List<Conv2d>();
        for (var i = 0; i < blockOutChannels.Count - 1; i++)
        {
            blocks.Add(nn.Conv2d(blockOutChannels[i], blockOutChannels[i], 3, padding: 1));
            blocks.Add(nn.Conv2d(blockOutChannels[i], blockOutChannels[i + 1], 3, padding: 1, stride: 2));
        }
        _blocks = blocks.ToArray();
        register_module("blocks", nn.ModuleList(_blocks));
        _convOut = nn.Conv2d(blockOutChannels[^1], conditioningEmbeddingChannels, 3, padding: 1);
        register_module("conv_out", _convOut);
    }

    /// <param name="conditioning">[B, conditioning_channels, H, W] control image.</param>
    /// <returns>[B, conditioning_embedding_channels, H', W'], H and W halved once per width step.</returns>
    public Tensor Forward(Tensor conditioning)
    {
        using var scope = NewDisposeScope();
        var embedding = nn.functional.silu(_convIn.forward(conditioning));
        foreach (var block in _blocks)
            embedding = nn.functional.silu(block.forward(embedding));
        return _convOut.forward(embedding).MoveToOuterDisposeScope();
    }
}
