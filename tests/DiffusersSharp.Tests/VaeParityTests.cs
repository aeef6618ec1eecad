using System.Text.RegularExpressions;
using DiffusersSharp.Images;
using DiffusersSharp.Models;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>AutoencoderKL against diffusers' golden encode/decode cases, plus save/reload and the memory options.</summary>
public class VaeParityTests
{
    public static TheoryData<string> EncodeCases => new() { "components/tiny-sd_vae_encode_shared", "components/tiny-sd3_vae_encode_shared" };
    public static TheoryData<string> DecodeCases => new() { "components/tiny-sd_vae_decode_shared", "components/tiny-sd3_vae_decode_shared" };

    [Theory]
    [MemberData(nameof(EncodeCases))]
    public void EncodeMatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        using var vae = LoadModel(fixture);
        using var scope = NewDisposeScope();
        var image = fixture.Tensor("image");

        using var posterior = vae.Encode(image);
        TensorAssert.Close(fixture.Tensor("latent_mean"), posterior.Mean, what: "latent_mean");
        TensorAssert.Close(fixture.Tensor("latent_std"), posterior.Std, what: "latent_std");
        TensorAssert.Close(fixture.Tensor("latent_logvar"), posterior.LogVar, what: "latent_logvar");
        TensorAssert.Close(fixture.Tensor("latent_mean"), posterior.Mode(), what: "mode");

        // The notes say which seed drew the posterior sample; the draw itself is recorded as sample_noise.
        var seed = ulong.Parse(Regex.Match(fixture.Manifest["notes"]!.GetValue<string>(), @"seed (\d+)").Groups[1].Value);
        using var generator = new Generator(seed);
        var sample = posterior.Sample(generator);
        using var replay = new Generator(seed);
        TensorAssert.Equal(fixture.Tensor("sample_noise"), randn(posterior.Mean.shape, generator: replay), "sample_noise");
        TensorAssert.Close(fixture.Tensor("latent_sample"), sample, what: "latent_sample");
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void DecodeMatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        using var vae = LoadModel(fixture);
        using var scope = NewDisposeScope();
        TensorAssert.Close(fixture.Tensor("sample_out"), vae.Decode(fixture.Tensor("z")), what: "sample_out");
    }

    [Fact]
    public void ConfigPropertiesFollowDiffusers()
    {
        using var sd = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd/vae"));
        Assert.Equal(0.18215, sd.ScalingFactor);
        Assert.Null(sd.ShiftFactor);
        Assert.Equal(4, sd.LatentChannels);
        Assert.Equal(8, sd.VaeScaleFactor);
        Assert.True(sd.ForceUpcast);
        Assert.Equal(64, sd.TileSampleMinSize);
        Assert.Equal(8, sd.TileLatentMinSize);
        Assert.Contains("quant_conv.weight", sd.state_dict().Keys);
        Assert.Contains("encoder.mid_block.attentions.0.to_q.weight", sd.state_dict().Keys);
        Assert.Contains("decoder.up_blocks.0.upsamplers.0.conv.weight", sd.state_dict().Keys);
        Assert.Contains("encoder.down_blocks.0.downsamplers.0.conv.weight", sd.state_dict().Keys);

        using var sd3 = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd3/vae"));
        Assert.Equal(1.5035, sd3.ScalingFactor);
        Assert.Equal(0.0609, sd3.ShiftFactor);
        Assert.Equal(16, sd3.LatentChannels);
        Assert.DoesNotContain(sd3.state_dict().Keys, k => k.Contains("quant_conv"));
    }

    [Theory]
    [InlineData("down_block_types", """["DownEncoderBlock2D", "AttnDownEncoderBlock2D"]""")]
    [InlineData("up_block_types", """["UpDecoderBlock2D", "SomethingElse"]""")]
    [InlineData("act_fn", "\"tanh\"")]
    public void UnsupportedConfigValuesAreRefusedByName(string key, string json)
    {
        var config = Loading.ModelConfig.Parse("""{"block_out_channels": [32, 32], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"]}""");
        config[key] = System.Text.Json.Nodes.JsonNode.Parse(json);
        var e = Assert.Throws<NotSupportedException>(() => new AutoencoderKL(config));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void SavePretrainedRoundTripsConfigAndWeights()
    {
        var dir = Directory.CreateTempSubdirectory("ds-vae-").FullName;
        try
        {
            using var vae = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd3/vae"));
            vae.SavePretrained(dir);
            using var reloaded = AutoencoderKL.FromPretrained(dir);
            Assert.Equal("AutoencoderKL", reloaded.Config.ClassName);
            Assert.Equal(vae.ShiftFactor, reloaded.ShiftFactor);
            Assert.Equal(vae.ScalingFactor, reloaded.ScalingFactor);
            Assert.False(reloaded.Config.GetBool("use_quant_conv", true));
            var original = vae.state_dict();
            var copy = reloaded.state_dict();
            Assert.Equal(original.Keys.Order(), copy.Keys.Order());
            foreach (var (name, tensor) in original)
                TensorAssert.Equal(tensor, copy[name], name);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void SlicingGivesTheUnslicedResult()
    {
        using var vae = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd/vae"));
        using var scope = NewDisposeScope();
        using var generator = new Generator(7);
        var z = randn([3, 4, 8, 8], generator: generator);
        var images = rand([2, 3, 64, 64], generator: generator) * 2 - 1;

        var decoded = vae.Decode(z);
        using var posterior = vae.Encode(images);
        vae.EnableSlicing();
        var decodedSliced = vae.Decode(z);
        using var posteriorSliced = vae.Encode(images);
        vae.DisableSlicing();

        // Same maths per item; only float rounding may differ, because libtorch's CPU convolution picks its kernel by
        // batch size (a batch-3 conv on an 8x8 map differs from batch 1 by ~1e-7; diffusers' slicing behaves the same).
        TensorAssert.CloseAbsolute(decoded, decodedSliced, 1e-5, "sliced decode");
        TensorAssert.CloseAbsolute(posterior.Parameters, posteriorSliced.Parameters, 1e-5, "sliced encode");
    }

    [Fact]
    public void TilingLeavesSmallInputsAlone()
    {
        using var vae = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd/vae"));
        using var scope = NewDisposeScope();
        using var generator = new Generator(8);
        var z = randn([1, 4, 8, 8], generator: generator);
        var plain = vae.Decode(z);
        vae.EnableTiling();
        TensorAssert.Equal(plain, vae.Decode(z), "tiling enabled, one tile");
    }

    [Fact]
    public void TiledDecodeBlendsTilesAsDiffusers()
    {
        using var vae = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd/vae"));
        using var scope = NewDisposeScope();
        using var generator = new Generator(9);
        // 13 x 10 latents: tiles start every 6 latents (8 · 0.75), so the last row and column of tiles are partial.
        var z = randn([1, 4, 13, 10], generator: generator);
        var untiled = vae.Decode(z);
        vae.EnableTiling();
        var tiled = vae.Decode(z);
        Assert.Equal(new long[] { 1, 3, 104, 80 }, tiled.shape);

        // Decode the tiles on their own and blend them as diffusers does (blend 64 · 0.25 = 16 pixels, keep 48), with
        // blends written into the tiles so that tile (1,1) blends against the already-blended (0,1) and (1,0).
        const int blend = 16, keep = 48;
        var t00 = DecodeTile(vae, z, 0, 0);
        var t01 = BlendH(t00, DecodeTile(vae, z, 0, 6), blend);
        var t10 = BlendV(t00, DecodeTile(vae, z, 6, 0), blend);
        var t11 = BlendH(t10, BlendV(t01, DecodeTile(vae, z, 6, 6), blend), blend);
        TensorAssert.Equal(t00[.., .., ..keep, ..keep], tiled[.., .., ..keep, ..keep], "tile (0,0)");
        TensorAssert.Equal(t01[.., .., ..keep, ..keep], tiled[.., .., ..keep, keep..(2 * keep)], "tile (0,1)");
        TensorAssert.Equal(t10[.., .., ..keep, ..keep], tiled[.., .., keep..(2 * keep), ..keep], "tile (1,0)");
        TensorAssert.Equal(t11[.., .., ..keep, ..keep], tiled[.., .., keep..(2 * keep), keep..(2 * keep)], "tile (1,1)");

        // Each tile sees less context than the whole latent (GroupNorm statistics and the mid block's attention are
        // per tile), so with these random weights the result resembles the untiled decode without matching it.
        Assert.False(tiled.isnan().any().item<bool>());
        var correlation = corrcoef(stack([tiled.flatten(), untiled.flatten()]))[0, 1].item<float>();
        Assert.True(correlation > 0.5, $"tiled decode does not resemble the untiled one: correlation {correlation}");
    }

    [Fact]
    public void TiledEncodeBlendsTilesAsDiffusers()
    {
        using var vae = AutoencoderKL.FromPretrained(FixtureCase.PathOf("models/tiny-sd/vae"));
        using var scope = NewDisposeScope();
        using var generator = new Generator(10);
        var images = rand([1, 3, 96, 112], generator: generator) * 2 - 1;
        using var untiled = vae.Encode(images);
        vae.EnableTiling();
        using var tiled = vae.Encode(images);
        Assert.Equal(new long[] { 1, 8, 12, 14 }, tiled.Parameters.shape);

        // Tiles start every 48 pixels; latent blend 8 · 0.25 = 2, kept square 6.
        using var m00 = vae.Encode(images[.., .., ..64, ..64]);
        using var m01 = vae.Encode(images[.., .., ..64, 48..112]);
        using var m10 = vae.Encode(images[.., .., 48..96, ..64]);
        var t00 = m00.Parameters;
        var t01 = BlendH(t00, m01.Parameters, 2);
        var t10 = BlendV(t00, m10.Parameters, 2);
        TensorAssert.Equal(t00[.., .., ..6, ..6], tiled.Parameters[.., .., ..6, ..6], "tile (0,0)");
        TensorAssert.Equal(t01[.., .., ..6, ..6], tiled.Parameters[.., .., ..6, 6..12], "tile (0,1)");
        TensorAssert.Equal(t10[.., .., ..6, ..6], tiled.Parameters[.., .., 6..12, ..6], "tile (1,0)");

        var correlation = corrcoef(stack([tiled.Mean.flatten(), untiled.Mean.flatten()]))[0, 1].item<float>();
        Assert.True(correlation > 0.8, $"tiled encode does not resemble the untiled one: correlation {correlation}");
    }

    [Fact]
    public void PreprocessedFixtureImageIsTheEncodeInput()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_vae_encode_shared");
        using var scope = NewDisposeScope();
        var pixels = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x64.png"));
        var image = new VaeImageProcessor().Preprocess(pixels);
        TensorAssert.Equal(fixture.Tensor("image"), image, "preprocessed init_64x64.png");
    }

    // diffusers' blend_v / blend_h, written out independently and without mutating the inputs.
    private static Tensor BlendV(Tensor a, Tensor b, int extent)
    {
        extent = (int)Math.Min(Math.Min(a.shape[2], b.shape[2]), extent);
        var rows = Enumerable.Range(0, (int)b.shape[2])
            .Select(y => y < extent ? a[.., .., a.shape[2] - extent + y, ..] * (1 - y / (double)extent) + b[.., .., y, ..] * (y / (double)extent) : b[.., .., y, ..])
            .ToArray();
        return stack(rows, 2);
    }

    private static Tensor BlendH(Tensor a, Tensor b, int extent)
    {
        extent = (int)Math.Min(Math.Min(a.shape[3], b.shape[3]), extent);
        var columns = Enumerable.Range(0, (int)b.shape[3])
            .Select(x => x < extent ? a[.., .., .., a.shape[3] - extent + x] * (1 - x / (double)extent) + b[.., .., .., x] * (x / (double)extent) : b[.., .., .., x])
            .ToArray();
        return stack(columns, 3);
    }

    private static Tensor DecodeTile(AutoencoderKL vae, Tensor z, int row, int col)
    {
        var tile = z[.., .., row..Math.Min(row + 8, (int)z.shape[2]), col..Math.Min(col + 8, (int)z.shape[3])];
        vae.DisableTiling();
        try
        {
            return vae.Decode(tile);
        }
        finally
        {
            vae.EnableTiling();
        }
    }

    private static AutoencoderKL LoadModel(FixtureCase fixture)
    {
        Assert.Equal("AutoencoderKL", fixture.Manifest["class"]!.GetValue<string>());
        return AutoencoderKL.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
    }
}
