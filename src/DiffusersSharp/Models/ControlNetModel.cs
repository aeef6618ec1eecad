using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static DiffusersSharp.Models.UNetConfigReader;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>ControlNetModel</c> for Stable Diffusion 1.x/2.x (Zhang et al., 2023): a trainable copy of the UNet's
/// down path and mid block that also sees an embedded control image, and whose every skip tensor and mid output goes
/// through a zero-initialised 1×1 convolution to become a residual for the UNet. Built from a diffusers
/// <c>config.json</c> with diffusers' keys and defaults; values outside what SD ControlNets use are refused by name.
/// </summary>
public sealed class ControlNetModel : ModelMixin
{
    private readonly Conv2d _convIn;
    private readonly Timesteps _timeProj;
    private readonly TimestepEmbedding _timeEmbedding;
    private readonly ControlNetConditioningEmbedding _condEmbedding;
    private readonly IDownBlock2D[] _downBlocks;
    private readonly Conv2d[] _controlNetDownBlocks;
    private readonly IMidBlock2D _midBlock;
    private readonly Conv2d _controlNetMidBlock;
    private readonly bool _bgr;

    public ControlNetModel(ModelConfig config) : base(nameof(ControlNetModel), config)
    {
        RefuseUnsupported(config);

        var downTypes = config.GetStringArray("down_block_types") ?? ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
        var blockOut = config.GetIntArray("block_out_channels") ?? [320, 640, 1280, 1280];
        var n = downTypes.Length;
        if (blockOut.Length != n)
            throw Invalid(config, $"block_out_channels has {blockOut.Length} entries but down_block_types has {n}; they must match.");

        InChannels = config.GetInt("in_channels", 4);
        ConditioningChannels = config.GetInt("conditioning_channels", 3);
        GlobalPoolConditions = config.GetBool("global_pool_conditions", false);
        _bgr = config.GetString("controlnet_conditioning_channel_order", "rgb") == "bgr";
        var flipSinToCos = config.GetBool("flip_sin_to_cos", true);
        var freqShift = config.GetDouble("freq_shift", 0);
        // diffusers' ControlNet takes one layer count and one cross-attention width for every block.
        var layersPerBlock = config.GetInt("layers_per_block", 2);
        var crossAttentionDim = config.GetInt("cross_attention_dim", 1280);
        var downsamplePadding = config.GetInt("downsample_padding", 1);
        var midBlockScaleFactor = config.GetDouble("mid_block_scale_factor", 1);
        var actFn = config.GetString("act_fn", "silu");
        var normNumGroups = config.GetInt("norm_num_groups", 32);
        var normEps = config.GetDouble("norm_eps", 1e-5);
        var attentionHeadDim = config.GetIntList("attention_head_dim", n, 8);
        // diffusers' naming quirk: attention_head_dim holds the number of heads unless num_attention_heads is given.
        var numAttentionHeads = config.Contains("num_attention_heads") ? config.GetIntList("num_attention_heads", n, 8) : attentionHeadDim;
        var onlyCrossAttention = ReadBoolList(config, "only_cross_attention", n);
        var useLinearProjection = config.GetBool("use_linear_projection", false);
        var upcastAttention = config.GetBool("upcast_attention", false);
        var resnetTimeScaleShift = config.GetString("resnet_time_scale_shift", "default");
        var transformerLayers = ReadTransformerLayers(config, n);
        var conditioningOut = config.GetIntArray("conditioning_embedding_out_channels") ?? [16, 32, 96, 256];

        _convIn = nn.Conv2d(InChannels, blockOut[0], 3, padding: 1);
        register_module("conv_in", _convIn);

        var timeEmbedDim = blockOut[0] * 4;
        _timeProj = new Timesteps(blockOut[0], flipSinToCos, freqShift);
        register_module("time_proj", _timeProj);
        _timeEmbedding = new TimestepEmbedding(blockOut[0], timeEmbedDim, actFn);
        register_module("time_embedding", _timeEmbedding);

        _condEmbedding = new ControlNetConditioningEmbedding(blockOut[0], ConditioningChannels, conditioningOut);
        register_module("controlnet_cond_embedding", _condEmbedding);

        // One zero convolution per skip tensor: conv_in's output, then each resnet and each downsampler of every block.
        var downModules = new nn.Module[n];
        var zeroConvs = new List<Conv2d> { ZeroConv(blockOut[0]) };
        var outputChannel = blockOut[0];
        for (var i = 0; i < n; i++)
        {
            var inputChannel = outputChannel;
            outputChannel = blockOut[i];
            var isFinal = i == n - 1;
            downModules[i] = UNetBlocks.CreateDownBlock(downTypes[i], new UNetBlockOptions
            {
                NumLayers = layersPerBlock,
                TransformerLayersPerBlock = PerLayer(config, "transformer_layers_per_block", transformerLayers[i], layersPerBlock),
                InChannels = inputChannel,
                OutChannels = outputChannel,
                TembChannels = timeEmbedDim,
                AddDownsample = !isFinal,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                ResnetGroups = normNumGroups,
                CrossAttentionDim = crossAttentionDim,
                NumAttentionHeads = numAttentionHeads[i],
                AttentionHeadDim = attentionHeadDim[i],
                DownsamplePadding = downsamplePadding,
                UseLinearProjection = useLinearProjection,
                OnlyCrossAttention = onlyCrossAttention[i],
                UpcastAttention = upcastAttention,
                ResnetTimeScaleShift = resnetTimeScaleShift,
            });
            for (var layer = 0; layer < layersPerBlock; layer++) zeroConvs.Add(ZeroConv(outputChannel));
            if (!isFinal) zeroConvs.Add(ZeroConv(outputChannel));
        }
        _downBlocks = downModules.Cast<IDownBlock2D>().ToArray();
        register_module("down_blocks", nn.ModuleList(downModules));
        _controlNetDownBlocks = zeroConvs.ToArray();
        register_module("controlnet_down_blocks", nn.ModuleList(_controlNetDownBlocks));

        _controlNetMidBlock = ZeroConv(blockOut[^1]);
        register_module("controlnet_mid_block", _controlNetMidBlock);
        var midModule = UNetBlocks.CreateMidBlock(config.GetString("mid_block_type", "UNetMidBlock2DCrossAttn"), new UNetBlockOptions
        {
            InChannels = blockOut[^1],
            OutChannels = blockOut[^1],
            TembChannels = timeEmbedDim,
            ResnetEps = normEps,
            ResnetActFn = actFn,
            OutputScaleFactor = midBlockScaleFactor,
            ResnetTimeScaleShift = resnetTimeScaleShift,
            CrossAttentionDim = crossAttentionDim,
            NumAttentionHeads = numAttentionHeads[^1],
            ResnetGroups = normNumGroups,
            UseLinearProjection = useLinearProjection,
            UpcastAttention = upcastAttention,
            TransformerLayersPerBlock = PerLayer(config, "transformer_layers_per_block", transformerLayers[^1], 1),
        });
        _midBlock = (IMidBlock2D)midModule;
        register_module("mid_block", midModule);
    }

    public override string ClassName => "ControlNetModel";

    /// <summary>Latent channels of the noisy sample (config <c>in_channels</c>).</summary>
    public int InChannels { get; }

    /// <summary>Channels of the control image (config <c>conditioning_channels</c>).</summary>
    public int ConditioningChannels { get; }

    /// <summary>
    /// Config <c>global_pool_conditions</c>: residuals are averaged over height and width (shuffle-style ControlNets),
    /// and pipelines then run in guess mode.
    /// </summary>
    public bool GlobalPoolConditions { get; }

    public static ControlNetModel FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new ControlNetModel(config));

    /// <summary>Computes the residuals for <paramref name="sample"/> at <paramref name="timestep"/> under the control image.</summary>
    /// <param name="sample">[B, in_channels, h, w] noisy latents.</param>
    /// <param name="timestep">0-d or [B] (or [1]) timesteps; broadcast to the batch.</param>
    /// <param name="encoderHiddenStates">[B, M, cross_attention_dim] text context.</param>
    /// <param name="controlNetCond">[B, conditioning_channels, H, W] control image in [0, 1], H and W the latent size times the embedding's downsampling.</param>
    /// <param name="conditioningScale">Multiplies every residual (diffusers' <c>conditioning_scale</c>).</param>
    /// <param name="guessMode">Scale the residuals from 0.1 (first skip tensor) up to 1 (mid block) on a log scale, as diffusers' guess mode does.</param>
    public ControlNetOutput Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor controlNetCond,
        double conditioningScale = 1.0, bool guessMode = false)
    {
        OnForward();
        using var scope = NewDisposeScope();
        if (_bgr) controlNetCond = controlNetCond.flip(1);

        // 1. time
        var timesteps = timestep.ndim == 0 ? timestep.unsqueeze(0) : timestep;
        timesteps = timesteps.to(sample.device).expand(sample.shape[0]);
        var emb = _timeEmbedding.Forward(_timeProj.forward(timesteps).to(sample.dtype));

        // 2. pre-process: the embedded control image joins the latents right after conv_in.
        sample = _convIn.forward(sample) + _condEmbedding.Forward(controlNetCond);

        // 3. down
        var crossAttention = new CrossAttentionInputs(encoderHiddenStates, null, null);
        var downBlockResSamples = new List<Tensor> { sample };
        foreach (var block in _downBlocks)
        {
            Tensor[] resSamples;
            (sample, resSamples) = block.HasCrossAttention ? block.Forward(sample, emb, crossAttention) : block.Forward(sample, emb);
            downBlockResSamples.AddRange(resSamples);
        }

        // 4. mid
        sample = _midBlock.HasCrossAttention ? _midBlock.Forward(sample, emb, crossAttention) : _midBlock.Forward(sample, emb);

        // 5. zero convolutions, one per skip tensor
        var down = downBlockResSamples.Select((res, i) => _controlNetDownBlocks[i].forward(res)).ToArray();
        var mid = _controlNetMidBlock.forward(sample);

        // 6. scaling
        if (guessMode && !GlobalPoolConditions)
        {
            // As diffusers: float32 scales 10^-1 … 10^0, one per residual and the last for the mid block.
            var scales = logspace(-1, 0, down.Length + 1, dtype: ScalarType.Float32, device: sample.device) * conditioningScale;
            down = down.Select((res, i) => res * scales[i]).ToArray();
            mid = mid * scales[down.Length];
        }
        else
        {
            down = down.Select(res => res * conditioningScale).ToArray();
            mid = mid * conditioningScale;
        }
        if (GlobalPoolConditions)
        {
            down = down.Select(res => res.mean([2, 3], keepdim: true)).ToArray();
            mid = mid.mean([2, 3], keepdim: true);
        }

        foreach (var res in down) res.MoveToOuterDisposeScope();
        return new ControlNetOutput(down, mid.MoveToOuterDisposeScope());
    }

    private static Conv2d ZeroConv(long channels) => nn.Conv2d(channels, channels, 1);

    /// <summary>Refuses, by key and value, every config setting that would make diffusers build something this port does not.</summary>
    private static void RefuseUnsupported(ModelConfig config)
    {
        config.RequireSupported("encoder_hid_dim", IsNull, "null only");
        config.RequireSupported("encoder_hid_dim_type", IsNull, "null only");
        config.RequireSupported("class_embed_type", IsNull, "null only");
        config.RequireSupported("num_class_embeds", IsNull, "null only");
        config.RequireSupported("addition_embed_type", IsNull, "null only (Stable Diffusion 1.x/2.x ControlNets)");
        config.RequireSupported("resnet_time_scale_shift", v => IsNull(v) || Is(v, "default") || Is(v, "scale_shift"), "\"default\" or \"scale_shift\"");
        config.RequireSupported("controlnet_conditioning_channel_order", v => IsNull(v) || Is(v, "rgb") || Is(v, "bgr"), "\"rgb\" or \"bgr\"");
        config.RequireSupported("down_block_types", v => AllStrings(v, UNetBlocks.IsSupportedDownBlock), "lists of " + string.Join(", ", UNetBlocks.DownBlockTypes));
        // diffusers raises for a null mid_block_type; absent means the default.
        if (config.Keys.Contains("mid_block_type"))
            config.RequireSupported("mid_block_type", v => UNetBlocks.MidBlockTypes.Any(t => Is(v, t)), string.Join(" or ", UNetBlocks.MidBlockTypes));
        config.RequireSupported("layers_per_block", v => IsNull(v) || v is JsonValue, "one integer for every block");
        config.RequireSupported("cross_attention_dim", v => IsNull(v) || v is JsonValue, "one integer for every block");
        if (config.Keys.Contains("norm_num_groups"))
            config.RequireSupported("norm_num_groups", v => !IsNull(v), "an integer");
        if (config.Keys.Contains("attention_head_dim"))
            config.RequireSupported("attention_head_dim", v => !IsNull(v) && (v is not JsonArray a || a.All(x => x is not null)), "an integer or a list of integers");
        if (config.Keys.Contains("conditioning_embedding_out_channels"))
            config.RequireSupported("conditioning_embedding_out_channels", v => v is JsonArray { Count: > 0 }, "a non-empty list of integers");
    }
}
