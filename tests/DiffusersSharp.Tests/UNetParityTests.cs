using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class UNetParityTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("components/tiny-sd_unet_scalar_t")]
    [InlineData("components/tiny-sd_unet_vector_t")]
    [InlineData("components/tiny-sd_unet_with_controlnet_residuals")]
    [InlineData("components/tiny-sd-inpaint_unet")]
    [InlineData("components/tiny-sdxl_unet")]
    public void UNet2DConditionModelMatchesDiffusers(string name)
    {
        using var fixture = FixtureCase.Load(name);
        using var noGrad = no_grad();
        using var unet = UNet2DConditionModel.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        using var scope = NewDisposeScope();
        var call = fixture.Manifest["call"]!.AsObject();

        var actual = unet.Forward(TensorArg(fixture, call["sample"]), TensorArg(fixture, call["timestep"]),
            TensorArg(fixture, call["encoder_hidden_states"]), ExtrasFrom(fixture, call));

        var expected = fixture.Tensor("sample_out");
        LogMaxDiff(name, expected, actual);
        TensorAssert.Close(expected, actual, 1e-4, name);
    }

    [Fact]
    public void UNet2DModelMatchesDiffusers()
    {
        using var fixture = FixtureCase.Load("components/tiny-ddpm_unet_shared");
        using var noGrad = no_grad();
        using var unet = UNet2DModel.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        using var scope = NewDisposeScope();
        var call = fixture.Manifest["call"]!.AsObject();

        var actual = unet.Forward(TensorArg(fixture, call["sample"]), TensorArg(fixture, call["timestep"]));

        var expected = fixture.Tensor("sample_out");
        LogMaxDiff("tiny-ddpm_unet_shared", expected, actual);
        TensorAssert.Close(expected, actual, 1e-4, "tiny-ddpm_unet_shared");
    }

    [Fact]
    public void UNet2DConditionModelSaveAndReloadGivesIdenticalOutput()
    {
        using var fixture = FixtureCase.Load("components/tiny-sdxl_unet");
        using var noGrad = no_grad();
        var dir = Directory.CreateTempSubdirectory("ds-unet-").FullName;
        try
        {
            using var unet = UNet2DConditionModel.FromPretrained(fixture.ModelPath("models/tiny-sdxl/unet"));
            unet.SavePretrained(dir);
            using var reloaded = UNet2DConditionModel.FromPretrained(dir);
            using var scope = NewDisposeScope();
            Assert.Equal("UNet2DConditionModel", ModelConfig.Load(Path.Combine(dir, "config.json")).ClassName);

            var call = fixture.Manifest["call"]!.AsObject();
            Tensor Run(UNet2DConditionModel m) => m.Forward(TensorArg(fixture, call["sample"]), TensorArg(fixture, call["timestep"]),
                TensorArg(fixture, call["encoder_hidden_states"]), ExtrasFrom(fixture, call));
            TensorAssert.Equal(Run(unet), Run(reloaded), "reloaded UNet output");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void UNet2DModelSaveAndReloadGivesIdenticalOutput()
    {
        using var fixture = FixtureCase.Load("components/tiny-ddpm_unet_shared");
        using var noGrad = no_grad();
        var dir = Directory.CreateTempSubdirectory("ds-unet2d-").FullName;
        try
        {
            using var unet = UNet2DModel.FromPretrained(fixture.ModelPath("models/tiny-ddpm/unet"));
            unet.SavePretrained(dir);
            using var reloaded = UNet2DModel.FromPretrained(dir);
            using var scope = NewDisposeScope();
            var sample = fixture.Tensor("sample");
            var timestep = fixture.Tensor("timestep");
            TensorAssert.Equal(unet.Forward(sample, timestep), reloaded.Forward(sample, timestep), "reloaded UNet2DModel output");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void UNetWeightWithWrongShapeIsNamedWithBothShapes()
    {
        NativeRuntime.EnsureLoaded();
        var source = FixtureCase.PathOf("models/tiny-sd/unet");
        var dir = Directory.CreateTempSubdirectory("ds-unet-bad-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
            using (var scope = NewDisposeScope())
            {
                Dictionary<string, Tensor> tensors;
                using (var file = SafetensorsFile.Open(Path.Combine(source, "diffusion_pytorch_model.safetensors")))
                    tensors = file.ReadAll();
                tensors["conv_in.weight"] = zeros(32, 4, 1, 1);
                SafetensorsFile.Write(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), tensors);
            }
            var e = Assert.Throws<InvalidDataException>(() => UNet2DConditionModel.FromPretrained(dir));
            Assert.Contains("conv_in.weight", e.Message);
            Assert.Contains("[32, 4, 1, 1]", e.Message);
            Assert.Contains("[32, 4, 3, 3]", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("attention_type", "\"gated\"")]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("addition_embed_type", "\"text\"")]
    [InlineData("time_embedding_type", "\"fourier\"")]
    [InlineData("encoder_hid_dim_type", "\"text_proj\"")]
    [InlineData("dual_cross_attention", "true")]
    [InlineData("num_attention_heads", "8")]
    [InlineData("resnet_time_scale_shift", "\"spatial\"")]
    [InlineData("mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"")]
    [InlineData("down_block_types", "[\"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]")]
    [InlineData("up_block_types", "[\"UpBlock2D\", \"KCrossAttnUpBlock2D\"]")]
    public void UNet2DConditionModelRefusesUnsupportedConfigByName(string key, string json)
    {
        NativeRuntime.EnsureLoaded();
        var config = ModelConfig.Load(FixtureCase.PathOf("models/tiny-sd/unet/config.json"));
        config[key] = JsonNode.Parse(json);
        var e = Assert.Throws<NotSupportedException>(() => new UNet2DConditionModel(config).Dispose());
        Assert.Contains(key, e.Message);
        Assert.Contains(json.Replace(" ", ""), e.Message.Replace(" ", ""));
    }

    [Theory]
    [InlineData("time_embedding_type", "\"fourier\"")]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("downsample_type", "\"resnet\"")]
    [InlineData("down_block_types", "[\"DownBlock2D\", \"AttnSkipDownBlock2D\"]")]
    public void UNet2DModelRefusesUnsupportedConfigByName(string key, string json)
    {
        NativeRuntime.EnsureLoaded();
        var config = ModelConfig.Load(FixtureCase.PathOf("models/tiny-ddpm/unet/config.json"));
        config[key] = JsonNode.Parse(json);
        var e = Assert.Throws<NotSupportedException>(() => new UNet2DModel(config).Dispose());
        Assert.Contains(key, e.Message);
        Assert.Contains(json.Replace(" ", ""), e.Message.Replace(" ", ""));
    }

    [Fact]
    public void UNetKeepsSizesThatAreNotAMultipleOfItsDownsamplingFactor()
    {
        NativeRuntime.EnsureLoaded();
        using var noGrad = no_grad();
        using var unet = UNet2DConditionModel.FromPretrained(FixtureCase.PathOf("models/tiny-sd/unet"));
        using var scope = NewDisposeScope();
        var output = unet.Forward(randn(1, 4, 9, 7), tensor(10L), randn(1, 5, 32));
        Assert.Equal(new long[] { 1, 4, 9, 7 }, output.shape);
    }

    [Fact]
    public void UNetTakesFloatTimestepsLikeIntegerOnes()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_unet_scalar_t");
        using var noGrad = no_grad();
        using var unet = UNet2DConditionModel.FromPretrained(fixture.ModelPath("models/tiny-sd/unet"));
        using var scope = NewDisposeScope();
        var sample = fixture.Tensor("sample");
        var context = fixture.Tensor("encoder_hidden_states");
        var timestep = fixture.Tensor("timestep");
        // diffusers embeds timesteps in float32 whatever their dtype, so 500 and 500.0 give the same output.
        TensorAssert.Equal(unet.Forward(sample, timestep, context), unet.Forward(sample, timestep.to(ScalarType.Float32), context), "float timestep");
        TensorAssert.Equal(unet.Forward(sample, timestep, context), unet.Forward(sample, timestep.expand(2), context), "per-sample timesteps");
    }

    [Fact]
    public void UNetEncoderAttentionMaskHidesDiscardedTokens()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_unet_scalar_t");
        using var noGrad = no_grad();
        using var unet = UNet2DConditionModel.FromPretrained(fixture.ModelPath("models/tiny-sd/unet"));
        using var scope = NewDisposeScope();
        var sample = fixture.Tensor("sample");
        var timestep = fixture.Tensor("timestep");
        var context = fixture.Tensor("encoder_hidden_states");
        const int kept = 10;
        var mask = cat([ones(2, kept), zeros(2, context.shape[1] - kept)], dim: 1);

        var masked = unet.Forward(sample, timestep, context, new UNet2DConditionExtras { EncoderAttentionMask = mask });
        var truncated = unet.Forward(sample, timestep, context[.., ..kept]);

        // A -10000 bias leaves exp() = 0 in float32, so masked tokens count for nothing.
        TensorAssert.Close(truncated, masked, 1e-5, "masked vs truncated context");
        var unmasked = unet.Forward(sample, timestep, context);
        Assert.True((unmasked - truncated).abs().max().item<float>() > 1e-3, "the discarded tokens should matter without the mask");
    }

    private void LogMaxDiff(string name, Tensor expected, Tensor actual) =>
        output.WriteLine($"{name}: max |diff| {(actual - expected).abs().max().item<float>():G3}, max |expected| {expected.abs().max().item<float>():G3}");

    private static Tensor TensorArg(FixtureCase fixture, JsonNode? node)
    {
        var reference = node?.GetValue<string>() ?? throw new InvalidDataException("Missing tensor argument in the manifest.");
        const string prefix = "tensor:";
        Assert.StartsWith(prefix, reference);
        return fixture.Tensor(reference[prefix.Length..]);
    }

    private static UNet2DConditionExtras ExtrasFrom(FixtureCase fixture, JsonObject call) => new()
    {
        DownBlockAdditionalResiduals = call["down_block_additional_residuals"]?.AsArray().Select(x => TensorArg(fixture, x)).ToList(),
        MidBlockAdditionalResidual = call["mid_block_additional_residual"] is { } mid ? TensorArg(fixture, mid) : null,
        AddedCondKwargs = call["added_cond_kwargs"] is JsonObject added
            ? new AddedCondKwargs(TensorArg(fixture, added["text_embeds"]), TensorArg(fixture, added["time_ids"]))
            : null,
    };
}
