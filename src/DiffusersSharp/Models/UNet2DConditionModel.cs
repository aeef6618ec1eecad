using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static DiffusersSharp.Models.UNetConfigReader;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c>: the text-conditioned denoiser of Stable Diffusion 1.x/2.x, SDXL and their
/// inpainting / ControlNet variants. Built from a diffusers <c>config.json</c> with diffusers' keys and defaults;
/// config values outside what SD-family checkpoints use are refused by name at construction.
/// </summary>
public sealed class UNet2DConditionModel : ModelMixin
{
    private readonly Conv2d _convIn;
    private readonly Timesteps _timeProj;
    private readonly TimestepEmbedding _timeEmbedding;
    private readonly Timesteps? _addTimeProj;
    private readonly TimestepEmbedding? _addEmbedding;
    private readonly nn.Module<Tensor, Tensor>? _timeEmbedAct;
    private readonly IDownBlock2D[] _downBlocks;
    private readonly IMidBlock2D? _midBlock;
    private readonly IUpBlock2D[] _upBlocks;
    private readonly GroupNorm _convNormOut;
    private readonly nn.Module<Tensor, Tensor> _convAct;
    private readonly Conv2d _convOut;
    private readonly bool _centerInputSample;

    public UNet2DConditionModel(ModelConfig config) : base(nameof(UNet2DConditionModel), config)
    {
        RefuseUnsupported(config);

        var downTypes = config.GetStringArray("down_block_types") ?? ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
        var upTypes = config.GetStringArray("up_block_types") ?? ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
        var blockOut = config.GetIntArray("block_out_channels") ?? [320, 640, 1280, 1280];
        var n = downTypes.Length;
        if (upTypes.Length != n)
            throw Invalid(config, $"down_block_types has {n} entries but up_block_types has {upTypes.Length}; they must match.");
        if (blockOut.Length != n)
            throw Invalid(config, $"block_out_channels has {blockOut.Length} entries but down_block_types has {n}; they must match.");

        InChannels = config.GetInt("in_channels", 4);
        OutChannels = config.GetInt("out_channels", 4);
        SampleSize = ReadSampleSize(config);
        BlockOutChannels = blockOut;
        _centerInputSample = config.GetBool("center_input_sample", false);
        var flipSinToCos = config.GetBool("flip_sin_to_cos", true);
        var freqShift = config.GetDouble("freq_shift", 0);
        var layersPerBlock = config.GetIntList("layers_per_block", n, 2);
        var downsamplePadding = config.GetInt("downsample_padding", 1);
        var midBlockScaleFactor = config.GetDouble("mid_block_scale_factor", 1);
        var dropout = config.GetDouble("dropout", 0);
        var actFn = config.GetString("act_fn", "silu");
        var normNumGroups = config.GetInt("norm_num_groups", 32);
        var normEps = config.GetDouble("norm_eps", 1e-5);
        var crossAttentionDim = config.GetIntList("cross_attention_dim", n, 1280);
        CrossAttentionDim = crossAttentionDim;
        // diffusers' naming quirk: attention_head_dim holds the number of heads (num_attention_heads must be null).
        var attentionHeadDim = config.GetIntList("attention_head_dim", n, 8);
        var numAttentionHeads = attentionHeadDim;
        var onlyCrossAttention = ReadBoolList(config, "only_cross_attention", n);
        var useLinearProjection = config.GetBool("use_linear_projection", false);
        var upcastAttention = config.GetBool("upcast_attention", false);
        var resnetTimeScaleShift = config.GetString("resnet_time_scale_shift", "default");
        var transformerLayers = ReadTransformerLayers(config, n);
        if (transformerLayers.Any(x => x is JsonArray) && config["reverse_transformer_layers_per_block"] is null)
            throw Invalid(config, "transformer_layers_per_block with per-layer lists needs reverse_transformer_layers_per_block (an asymmetric UNet).");
        var reverseTransformerLayers = ReadReverseTransformerLayers(config, n) ?? transformerLayers.Reverse().ToArray();
        var convInKernel = config.GetInt("conv_in_kernel", 3);
        var convOutKernel = config.GetInt("conv_out_kernel", 3);
        TimeCondProjDim = config.GetNullableInt("time_cond_proj_dim");

        _convIn = Layers.Conv2d(InChannels, blockOut[0], convInKernel, padding: (convInKernel - 1) / 2);
        register_module("conv_in", _convIn);

        // Positional time embedding (fourier is refused above).
        var timeEmbedDim = config.GetNullableInt("time_embedding_dim") ?? blockOut[0] * 4;
        _timeProj = new Timesteps(blockOut[0], flipSinToCos, freqShift);
        register_module("time_proj", _timeProj);
        _timeEmbedding = new TimestepEmbedding(blockOut[0], timeEmbedDim, actFn, postActFn: config.GetNullableString("timestep_post_act"),
            condProjDim: TimeCondProjDim);
        register_module("time_embedding", _timeEmbedding);

        AdditionEmbedType = config.GetNullableString("addition_embed_type");
        if (AdditionEmbedType == "text_time")
        {
            AdditionTimeEmbedDim = config.GetNullableInt("addition_time_embed_dim")
                ?? throw Invalid(config, "addition_embed_type \"text_time\" needs addition_time_embed_dim.");
            ProjectionClassEmbeddingsInputDim = config.GetNullableInt("projection_class_embeddings_input_dim")
                ?? throw Invalid(config, "addition_embed_type \"text_time\" needs projection_class_embeddings_input_dim.");
            _addTimeProj = new Timesteps(AdditionTimeEmbedDim.Value, flipSinToCos, freqShift);
            register_module("add_time_proj", _addTimeProj);
            _addEmbedding = new TimestepEmbedding(ProjectionClassEmbeddingsInputDim.Value, timeEmbedDim);
            register_module("add_embedding", _addEmbedding);
        }

        if (config.GetNullableString("time_embedding_act_fn") is { } timeEmbedActFn)
        {
            _timeEmbedAct = Activations.Get(timeEmbedActFn);
            register_module("time_embed_act", _timeEmbedAct);
        }

        var downModules = new nn.Module[n];
        var outputChannel = blockOut[0];
        for (var i = 0; i < n; i++)
        {
            var inputChannel = outputChannel;
            outputChannel = blockOut[i];
            downModules[i] = UNetBlocks.CreateDownBlock(downTypes[i], new UNetBlockOptions
            {
                NumLayers = layersPerBlock[i],
                TransformerLayersPerBlock = PerLayer(config, "transformer_layers_per_block", transformerLayers[i], layersPerBlock[i]),
                InChannels = inputChannel,
                OutChannels = outputChannel,
                TembChannels = timeEmbedDim,
                AddDownsample = i != n - 1,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                ResnetGroups = normNumGroups,
                CrossAttentionDim = crossAttentionDim[i],
                NumAttentionHeads = numAttentionHeads[i],
                DownsamplePadding = downsamplePadding,
                UseLinearProjection = useLinearProjection,
                OnlyCrossAttention = onlyCrossAttention[i],
                UpcastAttention = upcastAttention,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                AttentionHeadDim = attentionHeadDim[i],
                Dropout = dropout,
            });
        }
        _downBlocks = downModules.Cast<IDownBlock2D>().ToArray();
        register_module("down_blocks", nn.ModuleList(downModules));

        var midBlockType = config.Keys.Contains("mid_block_type") ? config.GetNullableString("mid_block_type") : "UNetMidBlock2DCrossAttn";
        if (midBlockType is not null)
        {
            var midModule = UNetBlocks.CreateMidBlock(midBlockType, new UNetBlockOptions
            {
                InChannels = blockOut[^1],
                OutChannels = blockOut[^1],
                TembChannels = timeEmbedDim,
                Dropout = dropout,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                OutputScaleFactor = midBlockScaleFactor,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                CrossAttentionDim = crossAttentionDim[^1],
                NumAttentionHeads = numAttentionHeads[^1],
                ResnetGroups = normNumGroups,
                UseLinearProjection = useLinearProjection,
                UpcastAttention = upcastAttention,
                TransformerLayersPerBlock = PerLayer(config, "transformer_layers_per_block", transformerLayers[^1], 1),
            });
            _midBlock = (IMidBlock2D)midModule;
            register_module("mid_block", midModule);
        }

        var reversedBlockOut = blockOut.Reverse().ToArray();
        var reversedHeads = numAttentionHeads.Reverse().ToArray();
        var reversedLayers = layersPerBlock.Reverse().ToArray();
        var reversedCrossDim = crossAttentionDim.Reverse().ToArray();
        var reversedOnlyCross = onlyCrossAttention.Reverse().ToArray();
        var upModules = new nn.Module[n];
        outputChannel = reversedBlockOut[0];
        for (var i = 0; i < n; i++)
        {
            var isFinal = i == n - 1;
            var prevOutputChannel = outputChannel;
            outputChannel = reversedBlockOut[i];
            var inputChannel = reversedBlockOut[Math.Min(i + 1, n - 1)];
            if (!isFinal) NumUpsamplers++;
            upModules[i] = UNetBlocks.CreateUpBlock(upTypes[i], new UNetBlockOptions
            {
                NumLayers = reversedLayers[i] + 1,
                TransformerLayersPerBlock = PerLayer(config, "reverse_transformer_layers_per_block", reverseTransformerLayers[i], reversedLayers[i] + 1),
                InChannels = inputChannel,
                OutChannels = outputChannel,
                PrevOutputChannel = prevOutputChannel,
                TembChannels = timeEmbedDim,
                AddUpsample = !isFinal,
                ResnetEps = normEps,
                ResnetActFn = actFn,
                ResnetGroups = normNumGroups,
                CrossAttentionDim = reversedCrossDim[i],
                NumAttentionHeads = reversedHeads[i],
                UseLinearProjection = useLinearProjection,
                OnlyCrossAttention = reversedOnlyCross[i],
                UpcastAttention = upcastAttention,
                ResnetTimeScaleShift = resnetTimeScaleShift,
                // diffusers indexes attention_head_dim unreversed here (it only matters for AttnUpBlock2D).
                AttentionHeadDim = attentionHeadDim[i],
                Dropout = dropout,
            });
        }
        _upBlocks = upModules.Cast<IUpBlock2D>().ToArray();
        register_module("up_blocks", nn.ModuleList(upModules));

        _convNormOut = Layers.GroupNorm(normNumGroups, blockOut[0], normEps, affine: true);
        register_module("conv_norm_out", _convNormOut);
        _convAct = Activations.Get(actFn);
        register_module("conv_act", _convAct);
        _convOut = Layers.Conv2d(blockOut[0], OutChannels, convOutKernel, padding: (convOutKernel - 1) / 2);
        register_module("conv_out", _convOut);
    }

    public override string ClassName => "UNet2DConditionModel";

    public override bool SupportsAttentionSlicing => true;

    /// <summary>Latent channels the model takes (4, or 9 for inpainting: noisy latents + mask + masked-image latents).</summary>
    public int InChannels { get; }

    public int OutChannels { get; }

    /// <summary>Latent height and width the model was trained at (config <c>sample_size</c>), if the config says.</summary>
    public (int Height, int Width)? SampleSize { get; }

    public IReadOnlyList<int> BlockOutChannels { get; }

    /// <summary>Width of the text context each down block expects (config <c>cross_attention_dim</c>, per block).</summary>
    public IReadOnlyList<int> CrossAttentionDim { get; }

    /// <summary>How many 2× upsamplers the up path has; inputs whose H or W is not a multiple of 2^this get explicit upsample sizes.</summary>
    public int NumUpsamplers { get; }

    /// <summary>Config <c>addition_embed_type</c>: null, or "text_time" for SDXL.</summary>
    public string? AdditionEmbedType { get; }

    /// <summary>Width of each SDXL time id's sinusoidal embedding (config <c>addition_time_embed_dim</c>).</summary>
    public int? AdditionTimeEmbedDim { get; }

    /// <summary>Input width of <c>add_embedding</c> (config <c>projection_class_embeddings_input_dim</c>): pooled text width + 6 × <see cref="AdditionTimeEmbedDim"/> for SDXL.</summary>
    public int? ProjectionClassEmbeddingsInputDim { get; }

    /// <summary>Config <c>time_cond_proj_dim</c>: the guidance-embedding width a <see cref="UNet2DConditionExtras.TimestepCond"/> must have, if any.</summary>
    public int? TimeCondProjDim { get; }

    public static UNet2DConditionModel FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new UNet2DConditionModel(config));

    /// <summary>Predicts the noise (or v, per the scheduler) for <paramref name="sample"/> at <paramref name="timestep"/>.</summary>
    /// <param name="sample">[B, in_channels, H, W] noisy latents.</param>
    /// <param name="timestep">0-d or [B] (or [1]) timesteps, integer or float; broadcast to the batch.</param>
    /// <param name="encoderHiddenStates">[B, M, cross_attention_dim] text context.</param>
    /// <returns>[B, out_channels, H, W].</returns>
    public Tensor Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, UNet2DConditionExtras? extras = null)
    {
        OnForward();
        extras ??= new UNet2DConditionExtras();
        using var scope = NewDisposeScope();

        // Sizes that are not multiples of the total upsampling factor need explicit upsampler output sizes.
        var overallUpFactor = 1L << NumUpsamplers;
        var forwardUpsampleSize = sample.shape[^2] % overallUpFactor != 0 || sample.shape[^1] % overallUpFactor != 0;

        // Keep (1) / discard (0) masks become additive biases with a singleton query axis.
        var attentionMask = extras.AttentionMask is { } mask ? ToAttentionBias(mask, sample.dtype) : null;
        var encoderAttentionMask = extras.EncoderAttentionMask is { } encoderMask ? ToAttentionBias(encoderMask, sample.dtype) : null;

        if (_centerInputSample) sample = 2 * sample - 1.0;

        // 1. time
        var emb = _timeEmbedding.Forward(TimeEmbed(sample, timestep), extras.TimestepCond);
        if (_addEmbedding is not null) emb = emb + AugmentedEmbedding(emb, extras.AddedCondKwargs);
        if (_timeEmbedAct is not null) emb = _timeEmbedAct.forward(emb);

        // 2. pre-process
        sample = _convIn.forward(sample);
        var crossAttention = new CrossAttentionInputs(encoderHiddenStates, attentionMask, encoderAttentionMask);

        // 3. down
        var controlNetDown = extras.DownBlockAdditionalResiduals;
        var controlNetMid = extras.MidBlockAdditionalResidual;
        var isControlNet = controlNetMid is not null && controlNetDown is not null;
        var adapterResiduals = extras.DownIntrablockAdditionalResiduals;
        // diffusers' deprecated T2I-Adapter convention: down residuals without a mid residual are intra-block features.
        if (adapterResiduals is null && controlNetMid is null && controlNetDown is not null)
            adapterResiduals = controlNetDown;
        var adapterQueue = new Queue<Tensor>(adapterResiduals ?? []);
        var isAdapter = adapterResiduals is not null;

        var downBlockResSamples = new List<Tensor> { sample };
        foreach (var block in _downBlocks)
        {
            Tensor[] resSamples;
            if (block.HasCrossAttention)
            {
                var additional = isAdapter && adapterQueue.Count > 0 ? adapterQueue.Dequeue() : null;
                (sample, resSamples) = block.Forward(sample, emb, crossAttention, additional);
            }
            else
            {
                (sample, resSamples) = block.Forward(sample, emb);
                // In place as in diffusers, so the skip tensor that aliases the block output sees the features too.
                if (isAdapter && adapterQueue.Count > 0) sample.add_(adapterQueue.Dequeue());
            }
            downBlockResSamples.AddRange(resSamples);
        }

        if (isControlNet)
        {
            if (controlNetDown!.Count != downBlockResSamples.Count)
                throw new ArgumentException($"ControlNet gave {controlNetDown.Count} down block residuals; this UNet has {downBlockResSamples.Count} skip tensors.", nameof(extras));
            for (var i = 0; i < downBlockResSamples.Count; i++)
                downBlockResSamples[i] = downBlockResSamples[i] + controlNetDown[i];
        }

        // 4. mid
        if (_midBlock is not null)
        {
            sample = _midBlock.HasCrossAttention ? _midBlock.Forward(sample, emb, crossAttention) : _midBlock.Forward(sample, emb);
            // T2I-Adapter-XL puts its last feature map on the mid block output.
            if (isAdapter && adapterQueue.Count > 0 && sample.shape.SequenceEqual(adapterQueue.Peek().shape))
                sample.add_(adapterQueue.Dequeue());
        }
        if (isControlNet) sample = sample + controlNetMid!;

        // 5. up
        long[]? upsampleSize = null;
        for (var i = 0; i < _upBlocks.Length; i++)
        {
            var block = _upBlocks[i];
            var take = block.NumResnets;
            var resSamples = downBlockResSamples.GetRange(downBlockResSamples.Count - take, take);
            downBlockResSamples.RemoveRange(downBlockResSamples.Count - take, take);
            if (i != _upBlocks.Length - 1 && forwardUpsampleSize)
                upsampleSize = downBlockResSamples[^1].shape[2..];
            sample = block.HasCrossAttention
                ? block.Forward(sample, resSamples, emb, crossAttention, upsampleSize)
                : block.Forward(sample, resSamples, emb, upsampleSize: upsampleSize);
            // Consumed skip tensors are not needed again; freeing them now lowers peak memory at large sizes.
            foreach (var res in resSamples) res.Dispose();
        }

        // 6. post-process
        sample = _convOut.forward(_convAct.forward(_convNormOut.forward(sample)));
        return sample.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' <c>get_time_embed</c>: broadcast the timesteps to the batch, embed in float32, cast to the sample's dtype.</summary>
    private Tensor TimeEmbed(Tensor sample, Tensor timestep)
    {
        var timesteps = timestep.ndim == 0 ? timestep.unsqueeze(0) : timestep;
        timesteps = timesteps.to(sample.device).expand(sample.shape[0]);
        return _timeProj.forward(timesteps).to(sample.dtype);
    }

    /// <summary>diffusers' <c>get_aug_embed</c> for "text_time": pooled text embedding plus sinusoidal embeddings of the six time ids.</summary>
    private Tensor AugmentedEmbedding(Tensor emb, AddedCondKwargs? added)
    {
        if (added is null)
            throw new ArgumentException("This UNet has addition_embed_type \"text_time\" and needs AddedCondKwargs (text_embeds and time_ids).");
        var timeEmbeds = _addTimeProj!.forward(added.TimeIds.flatten()).reshape(added.TextEmbeds.shape[0], -1);
        var addEmbeds = cat([added.TextEmbeds, timeEmbeds], dim: -1).to(emb.dtype);
        return _addEmbedding!.Forward(addEmbeds);
    }

    private static Tensor ToAttentionBias(Tensor mask, ScalarType dtype) => ((1 - mask.to(dtype)) * -10000.0).unsqueeze(1);

    /// <summary>
    /// Refuses, by key and value, every config setting that would make diffusers build something this port does not.
    /// Keys that diffusers reads only for block types we refuse (resnet_skip_time_act, resnet_out_scale_factor,
    /// cross_attention_norm, mid_block_only_cross_attention, addition_embed_type_num_heads) change nothing here, as in diffusers.
    /// </summary>
    private static void RefuseUnsupported(ModelConfig config)
    {
        config.RequireSupported("num_attention_heads", IsNull, "null only (diffusers rejects it too; heads come from attention_head_dim)");
        config.RequireSupported("encoder_hid_dim", IsNull, "null only");
        config.RequireSupported("encoder_hid_dim_type", IsNull, "null only");
        config.RequireSupported("class_embed_type", IsNull, "null only");
        config.RequireSupported("num_class_embeds", IsNull, "null only");
        config.RequireSupported("class_embeddings_concat", v => IsNull(v) || Is(v, false), "false only");
        config.RequireSupported("addition_embed_type", v => IsNull(v) || Is(v, "text_time"), "null or \"text_time\"");
        config.RequireSupported("dual_cross_attention", v => IsNull(v) || Is(v, false), "false only");
        config.RequireSupported("time_embedding_type", v => IsNull(v) || Is(v, "positional"), "\"positional\" only");
        config.RequireSupported("attention_type", v => IsNull(v) || Is(v, "default"), "\"default\" only");
        config.RequireSupported("resnet_time_scale_shift", v => IsNull(v) || Is(v, "default") || Is(v, "scale_shift"), "\"default\" or \"scale_shift\"");
        config.RequireSupported("mid_block_type", v => IsNull(v) || UNetBlocks.MidBlockTypes.Any(t => Is(v, t)), "null, " + string.Join(" or ", UNetBlocks.MidBlockTypes));
        config.RequireSupported("down_block_types", v => AllStrings(v, UNetBlocks.IsSupportedDownBlock), "lists of " + string.Join(", ", UNetBlocks.DownBlockTypes));
        config.RequireSupported("up_block_types", v => AllStrings(v, UNetBlocks.IsSupportedUpBlock), "lists of " + string.Join(", ", UNetBlocks.UpBlockTypes));
        // Absent means the default (32); an explicit null would give the blocks group norms without groups.
        if (config.Keys.Contains("norm_num_groups"))
            config.RequireSupported("norm_num_groups", v => !IsNull(v), "an integer");
        if (config.Keys.Contains("attention_head_dim"))
            config.RequireSupported("attention_head_dim", v => !IsNull(v) && (v is not JsonArray a || a.All(x => x is not null)), "an integer or a list of integers");
    }

    private static JsonNode[]? ReadReverseTransformerLayers(ModelConfig config, int count)
    {
        const string key = "reverse_transformer_layers_per_block";
        if (config[key] is null) return null;
        if (config[key] is not JsonArray array || array.Count != count)
            throw Invalid(config, $"Config key '{key}' must be a list with one entry per up block ({count}).");
        return array.Select(x => x ?? throw Invalid(config, $"Config key '{key}' has a null entry.")).ToArray();
    }
}
