using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="Encoder"/>, named and defaulted as diffusers' <c>vae.Encoder</c>.</summary>
public sealed record EncoderOptions
{
    public long InChannels { get; init; } = 3;
    /// <summary>Latent channels; the last convolution writes twice as many when <see cref="DoubleZ"/> (mean and log-variance).</summary>
    public long OutChannels { get; init; } = 3;
    public IReadOnlyList<string> DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 2;
    public int NormNumGroups { get; init; } = 32;
    public string ActFn { get; init; } = "silu";
    public bool DoubleZ { get; init; } = true;
    public bool MidBlockAddAttention { get; init; } = true;
}

/// <summary>diffusers' VAE <c>Encoder</c>: conv_in, down blocks, attention mid block, group norm, SiLU, conv_out.</summary>
public sealed class Encoder : DiffusersModule
{
    private readonly Conv2d _convIn;
    private readonly ModuleList<DownEncoderBlock2D> _downBlocks;
    private readonly UNetMidBlock2D _midBlock;
    private readonly GroupNorm _convNormOut;
    private readonly SiLU _convAct;
    private readonly Conv2d _convOut;

    public Encoder(EncoderOptions? options = null) : base(nameof(Encoder))
    {
        options ??= new EncoderOptions();
        var channels = options.BlockOutChannels;
        if (channels.Count == 0 || options.DownBlockTypes.Count != channels.Count)
            throw new ArgumentException($"The encoder needs one down block type per entry of block_out_channels; got {options.DownBlockTypes.Count} types for {channels.Count} channel counts.");

        _convIn = Layers.Conv2d(options.InChannels, channels[0], 3, stride: 1, padding: 1);
        var blocks = new DownEncoderBlock2D[channels.Count];
        long outputChannel = channels[0];
        for (var i = 0; i < blocks.Length; i++)
        {
            var inputChannel = outputChannel;
            outputChannel = channels[i];
            blocks[i] = options.DownBlockTypes[i] switch
            {
                // get_down_block strips a "UNetRes" prefix before matching.
                "DownEncoderBlock2D" or "UNetResDownEncoderBlock2D" => new DownEncoderBlock2D(inputChannel, outputChannel, new DownEncoderBlock2DOptions
                {
                    NumLayers = options.LayersPerBlock,
                    AddDownsample = i != channels.Count - 1,
                    ResnetEps = 1e-6,
                    DownsamplePadding = 0,
                    ResnetActFn = options.ActFn,
                    ResnetGroups = options.NormNumGroups,
                }),
                var other => throw new NotSupportedException($"Unsupported down block type '{other}': DiffusersSharp's VAE encoder supports DownEncoderBlock2D."),
            };
        }
        _downBlocks = nn.ModuleList(blocks);

        _midBlock = UNetMidBlock2D.ForVae(channels[^1], options.ActFn, options.NormNumGroups, options.MidBlockAddAttention);

        _convNormOut = Layers.GroupNorm(options.NormNumGroups, channels[^1], 1e-6, affine: true);
        // diffusers hard-codes SiLU here whatever act_fn says.
        _convAct = nn.SiLU();
        _convOut = Layers.Conv2d(channels[^1], options.DoubleZ ? 2 * options.OutChannels : options.OutChannels, 3, padding: 1);

        register_module("conv_in", _convIn);
        register_module("down_blocks", _downBlocks);
        register_module("mid_block", _midBlock);
        register_module("conv_norm_out", _convNormOut);
        register_module("conv_act", _convAct);
        register_module("conv_out", _convOut);
    }

    /// <summary>[B, in_channels, H, W] image in [-1, 1] → [B, 2·latent (or latent), H/f, W/f] moments.</summary>
    public Tensor Forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var h = _convIn.forward(sample);
        foreach (var block in _downBlocks) h = block.Forward(h);
        h = _midBlock.Forward(h, null);
        h = _convOut.forward(_convAct.forward(_convNormOut.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}
