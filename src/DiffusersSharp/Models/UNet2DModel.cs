using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>UNet2DModel</c>: the unconditional denoiser of DDPM-style pipelines (no text context). Built from a
/// diffusers <c>config.json</c>; config values outside what it implements are refused by name at construction.
/// </summary>
public sealed class UNet2DModel : ModelMixin
{
    private static readonly string[] DownTypes = ["DownBlock2D", "AttnDownBlock2D"];
    private static readonly string[] UpTypes = ["UpBlock2D", "AttnUpBlock2D"];

    private readonly Conv2d _convIn;
    private readonly Timesteps _timeProj;
    private readonly TimestepEmbedding _timeEmbedding;
    private readonly IDownBlock2D[] _downBlocks;
    private readonly IMidBlock2D? _midBlock;
    private readonly IUpBlock2D[] _upBlocks;
    private readonly GroupNorm _convNormOut;
    private readonly nn.Module<Tensor, Tensor> _convAct;
    private readonly Conv2d _convOut;
    private readonly bool _centerInputSample;

    public UNet2DModel(ModelConfig config) : base(nameof(UNet2DModel), config)
    {
        RefuseUnsupported(config);

        var downTypes = config.GetStringArray("down_block_types") ?? ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"];
        var upTypes = config.GetStringArray("up_block_types") ?? ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"];
        var blockOut = config.GetIntArray("block_out_channels") ?? [224, 448, 672, 896];
        var n = downTypes.Length;
        if (upTypes.Length != n)
            throw UNetConfigReader.Invalid(config, $"down_block_types has {n} entries but up_block_types has {upTypes.Length}; they must match.");
        if (blockOut.Length != n)
            throw UNetConfigReader.Invalid(config, $"block_out_channels has {blockOut.Length} entries but down_block_types has {n}; they must match.");

        InChannels = config.GetInt("in_channels", 3);
        OutChannels = config.GetInt("out_channels", 3);
        SampleSize = UNetConfigReader.ReadSampleSize(config);
        _centerInputSample = config.GetBool("center_input_sample", false);
        var layersPerBlock = config.GetInt("layers_per_block", 2);
        var midBlockScaleFactor = config.GetDouble("mid_block_scale_factor", 1);
        var downsamplePadding = config.GetInt("downsample_padding", 1);
        var dropout = config.GetDouble("dropout", 0);
        var actFn = config.GetString("act_fn", "silu");
        var attentionHeadDim = config.Keys.Contains("attention_head_dim") ? config.GetNullableInt("attention_head_dim") : 8;
        var normNumGroups = config.GetInt("norm_num_groups", 32);
        var attnNormNumGroups = config.GetNullableInt("attn_norm_num_groups");
        var normEps = config.GetDouble("norm_eps", 1e-5);
        var resnetTimeScaleShift = config.GetString("resnet_time_scale_shift", "default");
        var addAttention = config.GetBool("add_attention", true);

        _convIn = Layers.Conv2d(InChannels, blockOut[0], 3, padding: 1);
        register_module("conv_in", _convIn);
        var timeEmbedDim = config.GetNullableInt("time_embedding_dim") ?? blockOut[0] * 4;
        _timeProj = new Timesteps(blockOut[0], config.GetBool("flip_sin_to_cos", true), config.GetDouble("freq_shift", 0));
        register_module("time_proj", _timeProj);
        // UNet2DModel's time embedding always uses SiLU, whatever act_fn says.
        _timeEmbedding = new TimestepEmbedding(blockOut[0], timeEmbedDim);
        register_module("time_embedding", _timeEmbedding);

        var downModules = new nn.Module[n];
        var outputChannel = blockOut[0];
        for (var i = 0; i < n; i++)
        {
            var inputChannel = outputChannel;
            outputChannel = blockOut[i];
            downModules[i] = UNetBlocks.CreateDownBlock(downTypes[i], new UNetBlockOptions
            {
                NumLayers = layersPerBlock,
                InChannels = inputChannel,
                OutChannels = outputChannel,
                TembChannels = timeEmbedDim,
                AddDownsample = i != n - 1,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                ResnetGroups = normNumGroups,
                AttentionHeadDim = attentionHeadDim ?? outputChannel,
                DownsamplePadding = downsamplePadding,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                Dropout = dropout,
            });
        }
        _downBlocks = downModules.Cast<IDownBlock2D>().ToArray();
        register_module("down_blocks", nn.ModuleList(downModules));

        if (!config.Keys.Contains("mid_block_type") || config.GetNullableString("mid_block_type") is not null)
        {
            var mid = new UNetMidBlock2D(new UNetBlockOptions
            {
                InChannels = blockOut[^1],
                OutChannels = blockOut[^1],
                TembChannels = timeEmbedDim,
                Dropout = dropout,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                OutputScaleFactor = midBlockScaleFactor,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                AttentionHeadDim = attentionHeadDim ?? blockOut[^1],
                ResnetGroups = normNumGroups,
                AttnGroups = attnNormNumGroups,
                AddAttention = addAttention,
            });
            _midBlock = mid;
            register_module("mid_block", mid);
        }

        var reversedBlockOut = blockOut.Reverse().ToArray();
        var upModules = new nn.Module[n];
        outputChannel = reversedBlockOut[0];
        for (var i = 0; i < n; i++)
        {
            var prevOutputChannel = outputChannel;
            outputChannel = reversedBlockOut[i];
            var inputChannel = reversedBlockOut[Math.Min(i + 1, n - 1)];
            upModules[i] = UNetBlocks.CreateUpBlock(upTypes[i], new UNetBlockOptions
            {
                NumLayers = layersPerBlock + 1,
                InChannels = inputChannel,
                OutChannels = outputChannel,
                PrevOutputChannel = prevOutputChannel,
                TembChannels = timeEmbedDim,
                AddUpsample = i != n - 1,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                ResnetGroups = normNumGroups,
                AttentionHeadDim = attentionHeadDim ?? outputChannel,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                Dropout = dropout,
            });
        }
        _upBlocks = upModules.Cast<IUpBlock2D>().ToArray();
        register_module("up_blocks", nn.ModuleList(upModules));

        _convNormOut = Layers.GroupNorm(normNumGroups, blockOut[0], normEps, affine: true);
        register_module("conv_norm_out", _convNormOut);
        // Likewise SiLU regardless of act_fn, as in diffusers.
        _convAct = nn.SiLU();
        register_module("conv_act", _convAct);
        _convOut = Layers.Conv2d(blockOut[0], OutChannels, 3, padding: 1);
        register_module("conv_out", _convOut);
    }

    public override string ClassName => "UNet2DModel";

    public int InChannels { get; }

    public int OutChannels { get; }

    /// <summary>Image height and width the model was trained at (config <c>sample_size</c>), if the config says.</summary>
    public (int Height, int Width)? SampleSize { get; }

    public static UNet2DModel FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new UNet2DModel(config));

    /// <param name="sample">[B, in_channels, H, W] noisy images.</param>
    /// <param name="timestep">0-d or [B] (or [1]) timesteps, integer or float; broadcast to the batch.</param>
    /// <returns>[B, out_channels, H, W].</returns>
    public Tensor Forward(Tensor sample, Tensor timestep)
    {
        OnForward();
        using var scope = NewDisposeScope();
        if (_centerInputSample) sample = 2 * sample - 1.0;

        var timesteps = timestep.ndim == 0 ? timestep.unsqueeze(0).to(sample.device) : timestep;
        // diffusers broadcasts by multiplying with ones of the timesteps' own dtype.
        timesteps = timesteps * ones(sample.shape[0], dtype: timesteps.dtype, device: timesteps.device);
        var emb = _timeEmbedding.Forward(_timeProj.forward(timesteps).to(DType));

        sample = _convIn.forward(sample);
        var downBlockResSamples = new List<Tensor> { sample };
        foreach (var block in _downBlocks)
        {
            (sample, var resSamples) = block.Forward(sample, emb);
            downBlockResSamples.AddRange(resSamples);
        }

        if (_midBlock is not null) sample = _midBlock.Forward(sample, emb);

        foreach (var block in _upBlocks)
        {
            var take = block.NumResnets;
            var resSamples = downBlockResSamples.GetRange(downBlockResSamples.Count - take, take);
            downBlockResSamples.RemoveRange(downBlockResSamples.Count - take, take);
            sample = block.Forward(sample, resSamples, emb);
            // Consumed skip tensors are not needed again; freeing them now lowers peak memory at large sizes.
            foreach (var res in resSamples) res.Dispose();
        }

        sample = _convOut.forward(_convAct.forward(_convNormOut.forward(sample)));
        return sample.MoveToOuterDisposeScope();
    }

    /// <summary>Refuses, by key and value, every config setting that would make diffusers build something this port does not.</summary>
    private static void RefuseUnsupported(ModelConfig config)
    {
        config.RequireSupported("time_embedding_type", v => v is null || Is(v, "positional"), "\"positional\" only");
        config.RequireSupported("class_embed_type", v => v is null, "null only");
        config.RequireSupported("num_class_embeds", v => v is null, "null only");
        config.RequireSupported("downsample_type", v => v is null || Is(v, "conv"), "\"conv\" only");
        config.RequireSupported("upsample_type", v => v is null || Is(v, "conv"), "\"conv\" only");
        config.RequireSupported("resnet_time_scale_shift", v => v is null || Is(v, "default") || Is(v, "scale_shift"), "\"default\" or \"scale_shift\"");
        config.RequireSupported("mid_block_type", v => v is null || Is(v, "UNetMidBlock2D"), "null or \"UNetMidBlock2D\"");
        config.RequireSupported("down_block_types", v => AllOf(v, DownTypes), "lists of " + string.Join(", ", DownTypes));
        config.RequireSupported("up_block_types", v => AllOf(v, UpTypes), "lists of " + string.Join(", ", UpTypes));
        if (config.Keys.Contains("norm_num_groups"))
            config.RequireSupported("norm_num_groups", v => v is not null, "an integer");
    }

    private static bool Is(JsonNode v, string value) => v is JsonValue jv && jv.TryGetValue<string>(out var s) && s == value;

    private static bool AllOf(JsonNode? v, string[] supported) =>
        v is null || v is JsonArray a && a.All(x => x is JsonValue jv && jv.TryGetValue<string>(out var s) && supported.Contains(s));
}
