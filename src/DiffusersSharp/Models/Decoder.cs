using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="Decoder"/>, named and defaulted as diffusers' <c>vae.Decoder</c>.</summary>
public sealed record DecoderOptions
{
    public long InChannels { get; init; } = 3;
    public long OutChannels { get; init; } = 3;
    public IReadOnlyList<string> UpBlockTypes { get; init; } = ["UpDecoderBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 2;
    public int NormNumGroups { get; init; } = 32;
    public string ActFn { get; init; } = "silu";
    /// <summary>Only "group" (every AutoencoderKL); MoVQ's "spatial" norm is not implemented.</summary>
    public string NormType { get; init; } = "group";
    public bool MidBlockAddAttention { get; init; } = true;
}

/// <summary>
/// diffusers' VAE <c>Decoder</c>: conv_in, attention mid block, up blocks over the reversed channel list, group norm,
/// SiLU, conv_out. Runs in the weights' dtype, as diffusers 0.38 does (pipelines upcast the whole VAE to float32
/// when its config says force_upcast).
/// </summary>
public sealed class Decoder : DiffusersModule
{
    private readonly Conv2d _convIn;
    private readonly UNetMidBlock2D _midBlock;
    private readonly ModuleList<UpDecoderBlock2D> _upBlocks;
    private readonly GroupNorm _convNormOut;
    private readonly SiLU _convAct;
    private readonly Conv2d _convOut;

    public Decoder(DecoderOptions? options = null) : base(nameof(Decoder))
    {
        options ??= new DecoderOptions();
        if (options.NormType != "group")
            throw new NotSupportedException($"Unsupported decoder norm_type '{options.NormType}': DiffusersSharp supports group.");
        var channels = options.BlockOutChannels;
        if (channels.Count == 0 || options.UpBlockTypes.Count != channels.Count)
            throw new ArgumentException($"The decoder needs one up block type per entry of block_out_channels; got {options.UpBlockTypes.Count} types for {channels.Count} channel counts.");

        _convIn = Layers.Conv2d(options.InChannels, channels[^1], 3, stride: 1, padding: 1);
        _midBlock = UNetMidBlock2D.ForVae(channels[^1], options.ActFn, options.NormNumGroups, options.MidBlockAddAttention);

        var reversed = channels.Reverse().ToArray();
        var blocks = new UpDecoderBlock2D[reversed.Length];
        long outputChannel = reversed[0];
        for (var i = 0; i < blocks.Length; i++)
        {
            var prevOutputChannel = outputChannel;
            outputChannel = reversed[i];
            blocks[i] = options.UpBlockTypes[i] switch
            {
                // get_up_block strips a "UNetRes" prefix before matching.
                "UpDecoderBlock2D" or "UNetResUpDecoderBlock2D" => new UpDecoderBlock2D(prevOutputChannel, outputChannel, new UpDecoderBlock2DOptions
                {
                    NumLayers = options.LayersPerBlock + 1,
                    AddUpsample = i != channels.Count - 1,
                    ResnetEps = 1e-6,
                    ResnetActFn = options.ActFn,
                    ResnetGroups = options.NormNumGroups,
                    TembChannels = null,
                    ResnetTimeScaleShift = options.NormType,
                }),
                var other => throw new NotSupportedException($"Unsupported up block type '{other}': DiffusersSharp's VAE decoder supports UpDecoderBlock2D."),
            };
        }
        _upBlocks = nn.ModuleList(blocks);

        _convNormOut = Layers.GroupNorm(options.NormNumGroups, channels[0], 1e-6, affine: true);
        // diffusers hard-codes SiLU here whatever act_fn says.
        _convAct = nn.SiLU();
        _convOut = Layers.Conv2d(channels[0], options.OutChannels, 3, padding: 1);

        register_module("conv_in", _convIn);
        register_module("up_blocks", _upBlocks);
        register_module("mid_block", _midBlock);
        register_module("conv_norm_out", _convNormOut);
        register_module("conv_act", _convAct);
        register_module("conv_out", _convOut);
    }

    /// <summary>[B, latent, h, w] latents (after post_quant_conv) → [B, out_channels, h·f, w·f] image in about [-1, 1].</summary>
    public Tensor Forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var h = _convIn.forward(sample);
        h = _midBlock.Forward(h, null);
        foreach (var block in _upBlocks) h = block.Forward(h);
        h = _convOut.forward(_convAct.forward(_convNormOut.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}
