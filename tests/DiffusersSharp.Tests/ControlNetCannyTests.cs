using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>The Canny preprocessor of ControlNet's canny models.</summary>
public class ControlNetCannyTests
{
    public static TheoryData<string, string, double, double, string> OpenCvCases()
    {
        var data = new TheoryData<string, string, double, double, string>();
        var manifest = JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf("opencv-canny/cases.json")))!;
        foreach (var c in manifest["cases"]!.AsArray())
            data.Add(c!["input"]!.GetValue<string>(), c["mode"]!.GetValue<string>(), c["low"]!.GetValue<double>(), c["high"]!.GetValue<double>(), c["golden"]!.GetValue<string>());
        return data;
    }

    [Theory]
    [MemberData(nameof(OpenCvCases))]
    public void MatchesOpenCvExactly(string input, string mode, double low, double high, string golden)
    {
        NativeRuntime.EnsureLoaded();
        var inputPath = FixtureCase.PathOf(Path.Combine("opencv-canny", input));
        using var image = mode == "L" ? ImageIO.LoadGray(inputPath) : ImageIO.LoadRgb(inputPath);
        using var expected = ImageIO.LoadGray(FixtureCase.PathOf(Path.Combine("opencv-canny", golden)));

        using var edges = new CannyEdgeDetector(new CannyEdgeDetectorOptions { LowThreshold = low, HighThreshold = high }).Detect(image);

        Assert.Equal([expected.shape[0], expected.shape[1], 3L], edges.shape);
        for (var c = 0; c < 3; c++)
        {
            using var channel = edges.select(2, c);
            TensorAssert.Equal(expected, channel, $"{golden}, channel {c}");
        }
    }

    [Fact]
    public void FilledSquareHasEdgesOnItsBorderOnly()
    {
        NativeRuntime.EnsureLoaded();
        using var image = zeros([64, 64, 3], ScalarType.Byte);
        image[TensorIndex.Slice(20, 44), TensorIndex.Slice(16, 40)] = tensor((byte)255);

        using var edges = new CannyEdgeDetector().Detect(image);
        using var map = edges.select(2, 0).to(ScalarType.Int32);

        Assert.Equal([64L, 64, 3], edges.shape);
        Assert.True(edges.eq(0).logical_or(edges.eq(255)).all().item<bool>());
        for (var y = 0; y < 64; y++)
        {
            for (var x = 0; x < 64; x++)
            {
                // Distance (in pixels, Chebyshev) to the square's boundary, which runs between pixels 19|20, 43|44, 15|16, 39|40.
                var inside = y >= 20 && y < 44 && x >= 16 && x < 40;
                var depth = inside
                    ? Math.Min(Math.Min(y - 20, 43 - y), Math.Min(x - 16, 39 - x))
                    : Math.Max(Math.Max(20 - 1 - y, y - 44), Math.Max(16 - 1 - x, x - 40));
                if (map[y, x].item<int>() != 0)
                    Assert.True(depth == 0, $"edge at ({x}, {y}), {depth} pixels from the border");
            }
        }
        // Every side of the square is traced.
        Assert.True(map[TensorIndex.Slice(20, 44), 15].sum().item<long>() + map[TensorIndex.Slice(20, 44), 16].sum().item<long>() >= 255 * 20, "left side");
        Assert.True(map[TensorIndex.Slice(20, 44), 39].sum().item<long>() + map[TensorIndex.Slice(20, 44), 40].sum().item<long>() >= 255 * 20, "right side");
        Assert.True(map[19, TensorIndex.Slice(16, 40)].sum().item<long>() + map[20, TensorIndex.Slice(16, 40)].sum().item<long>() >= 255 * 20, "top side");
        Assert.True(map[43, TensorIndex.Slice(16, 40)].sum().item<long>() + map[44, TensorIndex.Slice(16, 40)].sum().item<long>() >= 255 * 20, "bottom side");
    }

    [Fact]
    public void ThresholdsAndHysteresisDecideWhichEdgesSurvive()
    {
        NativeRuntime.EnsureLoaded();
        // Three vertical steps: a strong one (contrast 200, magnitude 800), a weak one that continues a strong one
        // (rows 32+ of column 40: contrast 40, magnitude 160) and an isolated weak one (column 12, contrast 40).
        using var image = zeros([64, 64], ScalarType.Byte);
        image[TensorIndex.Colon, TensorIndex.Slice(12, 26)] = tensor((byte)40);
        image[TensorIndex.Slice(0, 32), TensorIndex.Slice(40, 64)] = tensor((byte)200);
        image[TensorIndex.Slice(32, 64), TensorIndex.Slice(40, 64)] = tensor((byte)40);

        long EdgesIn(Tensor edges, int fromColumn, int toColumn, int fromRow = 4, int toRow = 60)
        {
            using var region = edges[TensorIndex.Slice(fromRow, toRow), TensorIndex.Slice(fromColumn, toColumn), 0];
            return region.ne(0).sum().item<long>();
        }
        Tensor Run(double low, double high) => new CannyEdgeDetector(new CannyEdgeDetectorOptions { LowThreshold = low, HighThreshold = high }).Detect(image);

        using var standard = Run(100, 200);
        Assert.Equal(0, EdgesIn(standard, 8, 16));                      // isolated weak edge: below high, nothing to join
        Assert.True(EdgesIn(standard, 36, 44, 4, 30) >= 24);             // strong edge
        Assert.True(EdgesIn(standard, 36, 44, 34, 60) >= 24);            // weak edge kept by hysteresis through the strong one

        using var permissive = Run(50, 150);
        Assert.True(EdgesIn(permissive, 8, 16) >= 50);                  // 160 > high: the weak edge stands on its own

        using var strict = Run(100, 2000);
        Assert.Equal(0, EdgesIn(strict, 0, 64, 0, 64));                 // nothing reaches high (the largest magnitude, at a corner, is 1120)
    }

    [Theory]
    [InlineData(200, 100)]
    [InlineData(-1, 100)]
    [InlineData(10, double.NaN)]
    public void BadThresholdsAreRefused(double low, double high)
    {
        var e = Assert.Throws<ArgumentException>(() => new CannyEdgeDetector(new CannyEdgeDetectorOptions { LowThreshold = low, HighThreshold = high }));
        Assert.Contains("threshold", e.Message);
    }
}
