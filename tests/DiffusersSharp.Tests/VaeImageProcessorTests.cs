using DiffusersSharp.Images;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>diffusers' VaeImageProcessor maths and Pillow-exact image operations.</summary>
public class VaeImageProcessorTests
{
    /// <summary>
    /// Pillow 9.4 outputs (base64 of the uint8 array) for <see cref="Pattern"/> images, made with
    /// <c>Image.fromarray(pattern).resize((w, h), Image.LANCZOS | Image.NEAREST)</c> and <c>.convert("L")</c>.
    /// </summary>
    private static readonly IReadOnlyDictionary<string, string> PillowGolden = new Dictionary<string, string>
    {
        ["rgb_13x21_lanczos_8x16"] = "LWKmZKKQlXCRWZ20ootaXVioYplvfV2hUppvpbxbqHswaV5jQ12vZKa8qOkm1To4mplphnGTeYh4eYGVi4h2eH6SjIaEeI6NmXp0XGmJRqCatsx9s1M1OUeaXqnNsbIrUZOBmHyBkJaJp4l/jod8jYNpenGMg5RmlHCte9aShHhUcGC1k8+T2HM/XVCrcMaWbrdubY6AcZBNhHR3mYl6nJ+FSopnl4VXnm9hbzuWdryT35hBRnK6pbKmrD1AVYTYgFiuf3OFZIupi0x4e5h4lk2SdJFdnFOodF+WjnmmfjSIebnAllZPNJGz2od4b0+EfVhdjIt+wWavjKNfQpN7jmSoj61qS6OAjWCbg1ebp5Wac19wf6B8WjR9gcpuOXZPn4Srvlpyjj6EeKdTWpSCaHW2r0+RkaNlXYV7mHexno13em5aV2qJkoZZW3amt0BxlXl+f4Z2eIZfaKZOYZJtRYnNSnmqvWeor1aQmWiEj4V7hXBrbExojZablJB+nIhb",
        ["rgb_5x7_lanczos_16x24"] = "ACZRAClTAC1VBTRcET1qHUWAJkydLVW6MWXQNXzePpvkTLfsYcn/fdH/m9f/suj/v//Qyf9v0f8b3NkA6XwA9CgX+gAx/gA+AC9jADNmBDlsDkJ2G0+DKVySNGegPnGsRnu2T4e/W5XGZqLScqzpf7P/jbz/mM7+ou3FrP90t/8vxcoT0n4b3Dgy4gZJ5gBVDTuBDUCHEUqSGligKGysOYKvSpWlWqCWaqCNe5mNi4yVkoGmjn29g4LTd4/UcKTWc76xfNB9jdFRnrFCrIBMtVNfuzNxvy57I1GkJViuKWS/MXbTQJDeVbHSas2rftl7ls5Zsa9NxoJXyFhtskKDiUOUW1aZPW6hOIKXP46HVpV8bZB+e4SLg3aaiWyljm6sR3m2S3/DUYjYW5Tya6n8fcrljeunm/teseop0LoW6nMj6zJAyRBYiBBnQSlvEUZ6B1eDEF+NLmqZSnmpWoe5YZDEZpbLa5vQd7aef7eqirC/maXZqKHkr67NqMqQnN9Jn9UZtKgMz2Ig1iJEuAVheQ1zMyx+Bk+CA2WFE3CIOHiOWICbaYarcIm4dIvBeIvHoO9jrOlsvsx606OO4Xqb2GaRsnFvgotJZpMzZ383fVdQjjV1hi2YYz60PV/BKIW2MqWcS7p4cblckKNYooNnq2Z7rk+LskSVrP8ruvox0M856pJI+FBX5CNhqCJiYT9jL1pnIGR1MmKJTmKkXmvFYH3mXpT2Y7Pjc9ixivVspPAyvcIe0IIs3EdG4Rxc5Qhqk+wRoOEXt7Qf0nku4DhFzAthkQp9SyuVGVOjCXSoHIymQZ2pZaa7gabZlKXuo7DhpsyxqOxsqu0ytsQeyIQt2UhH4x1e6QprWqodZaIld4Qxj19FoDlllyOPci26RlHWKn3aKKjGQcyiatyCl9J7v7OO1Y6o23uvw4ScoJ93gbFbfKdXjYlopGp/tVOPv0uZH15JJl9TMlhgRVR0WVSTYl2/YHDrWov/W6/3Z9jMgPuLof9QyeUy8ao6/2la+j12yjSCh0qFTmyKPIaaS4+uZ5G/f5LIjJbPCTqGDkKKFU+NJGaSOoCeU5e7bqHdhKbxlbPnn9C7pu55sfU9yNgg6Jwn9lpG7y5mviN6eTiGQF2TL36oQJG9XJvOdaHWg6bcH0q9JFa0Km2lN46RTq6Ab7yBl66YtpSwwoe2upOfpa51kr9RlLVGqpBXvmdzxlCGq1WGgG16XohzWpR9bY6Sh4Snm3y1pna+Rm/jS33PU5euYLiCd9JUm848xaZG4HFl4E1+wkqCkGN4ZIByUo6AYYicfn61lYK2mJqYjrhrisVGlrJAq4pUwWNvz0aE1zORZ5D8bZ/fdrmyg9h1muozvtgI55wJ/FUr8SJSwxRsfyl7QE+NIW+uKIHTS5Dpb6rbiNGnmfRfrPUjxckR3Ick7klD9xxe/QBteqP/gbPris22l+turvog098A/JgA/0UH/gc3xQBedQZ8KzCdA1zJBnz1K5v/VsLxffOwnv9YwP8O4dcA+YUH/zkp/wJH/wBY",
        ["rgb_13x21_nearest_8x16"] = "ADVqJVqPb6TZlMn+ue4jAzhtKF2STYK3l8wBvPEm4RZLK2CVUIW6darfv/Qp5BlOtusg6R5TT4S5grfsteofG1CFToO4gbbr5xxRGk+ETYK3s+gd5htQGU6Df7TpsuccbKHWreIXL2SZcKXaseYbM2iddKneteofN2yheK3iue4jO3ClfLHmvfInP3SpgLXqx/wxD0R5n9QJ5xxRL2SZv/QpBzxxT4S53xRJJ1yRb6TZ/zRpR3yxj8T5H1SJZ5zRfbLn0wg9f7Tp1Qo/K2CV1wxBLWKXg7jtL2SZhbrv2xBFh7zx3RJHM2id3xRJNWqf2A1CNWqf7yRZTIG2qd4TY5jNwPUqHVKH1wxBNGmekcb7S4C1qN0SBTpvv/QpHFGGjsP4+S5jzwQ5Om+kpdoPe7Dl5htQUYa7J1yRksf8/TJn0wg9PnOoqd4Tf7Tp6h9URHmuvfInr+QZKF2SodYLk8j9DEF2hbrvd6zh8CVaaZ7TW5DF1Ak+TYK3P3SpuO0i",
        ["rgb_5x7_nearest_16x24"] = "ADVqADVqADVqJVqPJVqPJVqPJVqPSn+0Sn+0Sn+0b6TZb6TZb6TZb6TZlMn+lMn+lMn+ue4jue4jue4jue4j3hNI3hNI3hNIADVqADVqADVqJVqPJVqPJVqPJVqPSn+0Sn+0Sn+0b6TZb6TZb6TZb6TZlMn+lMn+lMn+ue4jue4jue4jue4j3hNI3hNI3hNIADVqADVqADVqJVqPJVqPJVqPJVqPSn+0Sn+0Sn+0b6TZb6TZb6TZb6TZlMn+lMn+lMn+ue4jue4jue4jue4j3hNI3hNI3hNIW5DFW5DFW5DFh7zxh7zxh7zxh7zxs+gds+gds+gd3xRJ3xRJ3xRJ3xRJC0B1C0B1C0B1N2yhN2yhN2yhN2yhY5jNY5jNY5jNW5DFW5DFW5DFh7zxh7zxh7zxh7zxs+gds+gds+gd3xRJ3xRJ3xRJ3xRJC0B1C0B1C0B1N2yhN2yhN2yhN2yhY5jNY5jNY5jNW5DFW5DFW5DFh7zxh7zxh7zxh7zxs+gds+gds+gd3xRJ3xRJ3xRJ3xRJC0B1C0B1C0B1N2yhN2yhN2yhN2yhY5jNY5jNY5jNtusgtusgtusg6R5T6R5T6R5T6R5THFGGHFGGHFGGT4S5T4S5T4S5T4S5grfsgrfsgrfsteofteofteofteof6B1S6B1S6B1Stusgtusgtusg6R5T6R5T6R5T6R5THFGGHFGGHFGGT4S5T4S5T4S5T4S5grfsgrfsgrfsteofteofteofteof6B1S6B1S6B1Stusgtusgtusg6R5T6R5T6R5T6R5THFGGHFGGHFGGT4S5T4S5T4S5T4S5grfsgrfsgrfsteofteofteofteof6B1S6B1S6B1Stusgtusgtusg6R5T6R5T6R5T6R5THFGGHFGGHFGGT4S5T4S5T4S5T4S5grfsgrfsgrfsteofteofteofteof6B1S6B1S6B1SEUZ7EUZ7EUZ7S4C1S4C1S4C1S4C1hbrvhbrvhbrvv/Qpv/Qpv/Qpv/Qp+S5j+S5j+S5jM2idM2idM2idM2idbaLXbaLXbaLXEUZ7EUZ7EUZ7S4C1S4C1S4C1S4C1hbrvhbrvhbrvv/Qpv/Qpv/Qpv/Qp+S5j+S5j+S5jM2idM2idM2idM2idbaLXbaLXbaLXEUZ7EUZ7EUZ7S4C1S4C1S4C1S4C1hbrvhbrvhbrvv/Qpv/Qpv/Qpv/Qp+S5j+S5j+S5jM2idM2idM2idM2idbaLXbaLXbaLXbKHWbKHWbKHWreIXreIXreIXreIX7iNY7iNY7iNYL2SZL2SZL2SZL2SZcKXacKXacKXaseYbseYbseYbseYb8idc8idc8idcbKHWbKHWbKHWreIXreIXreIXreIX7iNY7iNY7iNYL2SZL2SZL2SZL2SZcKXacKXacKXaseYbseYbseYbseYb8idc8idc8idcbKHWbKHWbKHWreIXreIXreIXreIX7iNY7iNY7iNYL2SZL2SZL2SZL2SZcKXacKXacKXaseYbseYbseYbseYb8idc8idc8idc",
        ["gray_13x21_lanczos_8x16"] = "LWSVWaJdYn1SpahpQ2So1ZqGeXmLeIx4mVxGtrM5XrFRmJCnjo16g5R7hHCT2F1wbm1xhJmcSpeeb3bfRqWsVYB/ZIt7lnScdI5+eZY02m99jMGMQo6PS42Dp3N/WoE5n76OeFpor5FdmJ56V5Jbt5V/eGhhRUq9r5mPhWyNlJw=",
        ["rgb_13x21_to_l"] = "K1B1mr/HVi5TeJ2lylkxVnugqM1chrLBVzZijrrJXz5qlqXRZ0Zynq1DxGFHeq3DYEZ5rMJfRXirwV5Ed6rAPHawzXFemLVZRoC61y5oor9jUIqnl7tmWpu/al6fw25io8dyZqfLdmqr1TqCrV9aos0yeqVXUprFd3K6T0qSTZzOOom7dHaoYWOyTlCf0T2Mvnd5qEtUqk1WrE9YrlFasFNcslVetFdgUGC9Z3e3MY7OSKVPX7xmdrYwjc1HXqVzitFStmd+xUaqW3K5Op5PZq0uuXGPR2WzO6ZefMpSvXWTS2m3P6piYYZFar9OwDKkY4hHbMFQpTSmZYpJb8thvVOvRb43sHaiaJRahkx41GrG",
    };

    [Theory]
    [InlineData("rgb_13x21_lanczos_8x16", 13, 21, 3, 8, 16, "lanczos")]
    [InlineData("rgb_5x7_lanczos_16x24", 5, 7, 3, 16, 24, "lanczos")]
    [InlineData("rgb_13x21_nearest_8x16", 13, 21, 3, 8, 16, "nearest")]
    [InlineData("rgb_5x7_nearest_16x24", 5, 7, 3, 16, 24, "nearest")]
    [InlineData("gray_13x21_lanczos_8x16", 13, 21, 1, 8, 16, "lanczos")]
    public void ResizeMatchesPillow(string golden, int height, int width, int channels, int outHeight, int outWidth, string resample)
    {
        using var scope = NewDisposeScope();
        var processor = new VaeImageProcessor(new VaeImageProcessorOptions { Resample = resample, DoNormalize = false });
        var resized = processor.Preprocess(PatternTensor(height, width, channels), outHeight, outWidth);
        TensorAssert.Equal(Expected(golden, outHeight, outWidth, channels), resized, golden);
    }

    [Fact]
    public void GrayscaleConversionMatchesPillow()
    {
        using var scope = NewDisposeScope();
        var processor = new VaeImageProcessor(new VaeImageProcessorOptions { DoResize = false, DoNormalize = false, DoConvertGrayscale = true });
        TensorAssert.Equal(Expected("rgb_13x21_to_l", 13, 21, 1), processor.Preprocess(PatternTensor(13, 21, 3)), "convert(\"L\")");
    }

    [Fact]
    public void PreprocessResizesDownToTheScaleFactorWithLanczos()
    {
        using var scope = NewDisposeScope();
        var image = tensor(Pattern(13, 21, 3), [13, 21, 3], ScalarType.Byte);
        var processor = new VaeImageProcessor();
        Assert.Equal((8, 16), processor.GetDefaultHeightWidth(13, 21));
        var expectedPixels = tensor(Convert.FromBase64String(PillowGolden["rgb_13x21_lanczos_8x16"]), [1, 8, 16, 3], ScalarType.Byte);
        var expected = (expectedPixels.to(ScalarType.Float32) / 255.0f * 2.0f - 1.0f).permute(0, 3, 1, 2);
        TensorAssert.Equal(expected, processor.Preprocess(image), "preprocessed 13x21 image");
    }

    [Fact]
    public void PreprocessKeepsAMultipleOfEightAsIs()
    {
        using var scope = NewDisposeScope();
        var pixels = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/init_64x96.png"));
        Assert.Equal(new long[] { 64, 96, 3 }, pixels.shape);
        var processed = new VaeImageProcessor().Preprocess(pixels);
        var expected = (pixels.to(ScalarType.Float32) / 255.0f * 2 - 1).permute(2, 0, 1).unsqueeze(0);
        TensorAssert.Equal(expected, processed, "preprocessed init_64x96.png");
    }

    [Fact]
    public void MaskPreprocessingIsGrayscaleBinarizedAndUnnormalized()
    {
        using var scope = NewDisposeScope();
        var mask = ImageIO.LoadGray(FixtureCase.PathOf("inputs/mask_64x64.png"));
        Assert.Equal(new long[] { 64, 64 }, mask.shape);
        var processed = VaeImageProcessor.ForMasks(8).Preprocess(mask);
        Assert.Equal(new long[] { 1, 1, 64, 64 }, processed.shape);
        var expected = (mask.to(ScalarType.Float32) / 255.0f >= 0.5f).to(ScalarType.Float32).unsqueeze(0).unsqueeze(0);
        TensorAssert.Equal(expected, processed, "processed mask");
        Assert.True(processed.eq(0).logical_or(processed.eq(1)).all().item<bool>());

        // An RGB mask goes through Pillow's convert("L") after resizing, as diffusers does.
        var rgbMask = ImageIO.LoadRgb(FixtureCase.PathOf("inputs/mask_64x64.png"));
        TensorAssert.Equal(processed, VaeImageProcessor.ForMasks(8).Preprocess(rgbMask), "RGB mask");
    }

    [Fact]
    public void FloatTensorsAreResizedNearestAndLatentsPassThrough()
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var image = rand([1, 3, 20, 17], generator: generator);
        var processed = new VaeImageProcessor().Preprocess(image);
        var expected = nn.functional.interpolate(image, size: [16, 16], mode: InterpolationMode.Nearest) * 2.0 - 1.0;
        TensorAssert.Equal(expected, processed, "tensor path");

        // Already in [-1, 1]: diffusers warns and does not normalize again.
        TensorAssert.Equal(processed, new VaeImageProcessor().Preprocess(processed), "pre-normalized input");

        var latents = randn([1, 4, 9, 9], generator: generator);
        TensorAssert.Equal(latents, new VaeImageProcessor().Preprocess(latents), "latents");
    }

    [Fact]
    public void PostprocessMapsToUnitRangeChannelsLast()
    {
        using var scope = NewDisposeScope();
        var decoded = tensor(new[] { -1.5f, -1f, 0f, 0.5f, 1f, 2f }, [1, 3, 1, 2]);
        var images = new VaeImageProcessor().Postprocess(decoded);
        Assert.Equal(new long[] { 1, 1, 2, 3 }, images.shape);
        Assert.Equal(ScalarType.Float32, images.dtype);
        // Channel c of pixel (0, x) is decoded[0, c, 0, x] · 0.5 + 0.5, clamped.
        TensorAssert.Equal(tensor(new[] { 0f, 0.5f, 1f, 0f, 0.75f, 1f }, [1, 1, 2, 3]), images, "postprocessed");

        var kept = new VaeImageProcessor().PostprocessToTensor(decoded, [false]);
        TensorAssert.Equal(decoded, kept, "do_denormalize false");
    }

    [Fact]
    public void ToUint8RoundsHalvesToEvenAsNumpy()
    {
        using var scope = NewDisposeScope();
        // Around every k + 0.5 boundary: the float32 nearest to (k + 0.5) / 255 and its neighbours.
        var values = new List<float> { 0f, 1f, 0.5f, 1f / 255, 254.5f / 255 };
        for (var k = 0; k < 255; k++)
        {
            var v = (k + 0.5f) / 255f;
            values.AddRange([MathF.BitDecrement(v), v, MathF.BitIncrement(v)]);
        }
        var actual = VaeImageProcessor.ToUint8(tensor(values.ToArray())).data<byte>().ToArray();

        // numpy: float32 product, round half to even, cast.
        var ties = 0;
        for (var i = 0; i < values.Count; i++)
        {
            var scaled = values[i] * 255f;
            if (scaled - MathF.Floor(scaled) == 0.5f) ties++;
            Assert.Equal((byte)MathF.Round(scaled, MidpointRounding.ToEven), actual[i]);
        }
        Assert.True(ties > 100, $"only {ties} exact halves exercised");
        Assert.Equal(128, actual[2]); // 0.5 · 255 = 127.5 → 128 (even)
    }

    [Fact]
    public void ToUint8ReproducesThePipelineFixturesPixels()
    {
        using var fixture = FixtureCase.Load("pipelines/sd_txt2img_pndm_cfg7.5_seed0");
        using var scope = NewDisposeScope();
        TensorAssert.Equal(fixture.Tensor("images_uint8"), VaeImageProcessor.ToUint8(fixture.Tensor("images")), "images_uint8");
    }

    [Fact]
    public void SavePngRoundTripsPixels()
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(Directory.CreateTempSubdirectory("ds-png-").FullName, "x.png");
        try
        {
            var rgb = tensor(Pattern(13, 21, 3), [13, 21, 3], ScalarType.Byte);
            ImageIO.SavePng(rgb, path);
            TensorAssert.Equal(rgb, ImageIO.LoadRgb(path), "RGB PNG");
            var gray = tensor(Pattern(13, 21, 1), [13, 21], ScalarType.Byte);
            ImageIO.SavePng(gray, path);
            TensorAssert.Equal(gray, ImageIO.LoadGray(path), "grayscale PNG");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, true);
        }
    }

    [Fact]
    public void JpegLoads()
    {
        using var scope = NewDisposeScope();
        var dir = Directory.CreateTempSubdirectory("ds-jpg-").FullName;
        try
        {
            var path = Path.Combine(dir, "x.jpg");
            using (var image = SixLabors.ImageSharp.Image.LoadPixelData<SixLabors.ImageSharp.PixelFormats.Rgb24>(Pattern(16, 24, 3), 24, 16))
                SixLabors.ImageSharp.ImageExtensions.SaveAsJpeg(image, path);
            var loaded = ImageIO.LoadRgb(path);
            Assert.Equal(new long[] { 16, 24, 3 }, loaded.shape);
            Assert.Equal(ScalarType.Byte, loaded.dtype);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>A golden Pillow image as the processor returns it without normalizing: [1, C, H, W] pixels / 255.</summary>
    private static Tensor Expected(string golden, int height, int width, int channels) =>
        (tensor(Convert.FromBase64String(PillowGolden[golden]), [1, height, width, channels], ScalarType.Byte).to(ScalarType.Float32) / 255.0f)
        .permute(0, 3, 1, 2);

    private static Tensor PatternTensor(int height, int width, int channels) =>
        channels == 1
            ? tensor(Pattern(height, width, 1), [height, width], ScalarType.Byte)
            : tensor(Pattern(height, width, channels), [height, width, channels], ScalarType.Byte);

    /// <summary>A busy deterministic pattern (as in the generator of <see cref="PillowGolden"/>) that exercises overshoot and clipping.</summary>
    private static byte[] Pattern(int height, int width, int channels)
    {
        var pixels = new byte[height * width * channels];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        for (var c = 0; c < channels; c++)
            pixels[(y * width + x) * channels + c] = (byte)((x * 37 + y * 91 + c * 53 + x * y * 7) % 256);
        return pixels;
    }
}
