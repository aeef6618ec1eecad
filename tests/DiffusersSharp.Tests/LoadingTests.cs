using DiffusersSharp.Loading;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class LoadingTests
{
    [Fact]
    public void SafetensorsRoundTripKeepsValuesShapesAndDtypes()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_unet_scalar_t");
        var dir = Directory.CreateTempSubdirectory("ds-st-").FullName;
        try
        {
            var path = Path.Combine(dir, "t.safetensors");
            using var a = randn(3, 4);
            using var b = arange(5, ScalarType.Int64);
            using var c = randn(2, 2).to(ScalarType.BFloat16);
            SafetensorsFile.Write(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b, ["c"] = c });
            using var file = SafetensorsFile.Open(path);
            Assert.Equal(new[] { "a", "b", "c" }, file.Entries.Keys.Order());
            using var a2 = file.Read("a");
            using var b2 = file.Read("b");
            using var c2 = file.Read("c");
            Assert.True(a.eq(a2).all().item<bool>());
            Assert.True(b.eq(b2).all().item<bool>());
            Assert.Equal(ScalarType.BFloat16, c2.dtype);
            Assert.True(c.eq(c2).all().item<bool>());
            using var f16 = zeros(3, 4, ScalarType.Float16);
            file.ReadInto("a", f16);
            Assert.True(a.to(ScalarType.Float16).eq(f16).all().item<bool>());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ConfigKeepsUnknownKeysAndNonFiniteFloats()
    {
        var config = ModelConfig.Parse("""{"a": 1, "unknown_key": [1, 2], "lambda_min_clipped": -Infinity}""");
        Assert.Equal(double.NegativeInfinity, config.GetDouble("lambda_min_clipped", 0));
        var json = config.ToJson();
        Assert.Contains("\"unknown_key\"", json);
        Assert.Contains("-Infinity", json);
        Assert.DoesNotContain("\"-Infinity\"", json);
        Assert.Equal(double.NegativeInfinity, ModelConfig.Parse(json).GetDouble("lambda_min_clipped", 0));
    }

    [Fact]
    public void ValuesSetInCodeReadLikeParsedOnes()
    {
        var config = new ModelConfig();
        config["solver_order"] = 2;
        config["beta_end"] = 0.012f;
        config["steps"] = System.Text.Json.Nodes.JsonValue.Create(3L);
        Assert.Equal(2, config.GetInt("solver_order", 0));
        Assert.Equal(0.012, config.GetDouble("beta_end", 0), 6);
        Assert.Equal(3, config.GetInt("steps", 0));
    }

    [Fact]
    public void MalformedJsonNamesTheFile()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "{ \"a\": ");
        var e = Assert.Throws<InvalidDataException>(() => ModelConfig.Load(path));
        Assert.Contains(path, e.Message);
        File.Delete(path);
    }
}
