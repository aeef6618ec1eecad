using DiffusersSharp.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static DiffusersSharp.Tests.CliTests;

namespace DiffusersSharp.Tests;

/// <summary><c>diffuse img2img</c> and <c>diffuse inpaint</c> run as a user would.</summary>
public class ImageToImageCliTests
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinySdInpaint => FixtureCase.PathOf("models/tiny-sd-inpaint");
    private static string Input(string name) => FixtureCase.PathOf("inputs/" + name);
    private static string TempFile(string name) => Path.Combine(Directory.CreateTempSubdirectory("ds-cli-").FullName, name);

    /// <summary>Largest difference of a written PNG from a fixture's <c>images_uint8</c>, in 8-bit levels.</summary>
    private static int WorstPixelDifference(string png, string fixtureName)
    {
        using var fixture = FixtureCase.Load(fixtureName);
        using var expected = fixture.Tensor("images_uint8")[0].to(TorchSharp.torch.ScalarType.Int32);
        using var image = Image.Load<Rgb24>(png);
        var pixels = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(pixels);
        using var actual = TorchSharp.torch.tensor(pixels, [image.Height, image.Width, 3]).to(TorchSharp.torch.ScalarType.Int32);
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (actual - expected).abs().max();
        return diff.item<int>();
    }

    [Fact]
    public void Img2ImgGivesDiffusersPicture()
    {
        var output = TempFile("out.png");
        var (code, stdout, stderr) = Diffuse("img2img", "--model", TinySd, "--image", Input("init_64x64.png"), "--strength", "0.75",
            "--prompt", "A painting of a squirrel eating a burger", "--steps", "10", "--seed", "11", "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Equal(output, stdout.Trim());
        Assert.True(WorstPixelDifference(output, "pipelines/sd_img2img_pndm_s0.75_seed11") <= 1);
    }

    [Fact]
    public void Img2ImgReadsJpegAndKeepsTheImageSize()
    {
        var jpeg = TempFile("init.jpg");
        using (var png = Image.Load<Rgb24>(Input("init_64x96.png")))
            png.SaveAsJpeg(jpeg);
        var output = TempFile("wide.png");
        var (code, _, stderr) = Diffuse("img2img", "--model", TinySd, "--image", jpeg, "--prompt", "x", "--steps", "2",
            "--scheduler", "EulerDiscreteScheduler", "--num-images", "2", "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Contains("seed: ", stderr);
        foreach (var i in new[] { 0, 1 })
        {
            using var image = Image.Load<Rgb24>(Path.Combine(Path.GetDirectoryName(output)!, $"wide-{i}.png"));
            Assert.Equal((96, 64), (image.Width, image.Height));
        }
    }

    [Fact]
    public void InpaintGivesDiffusersPicture()
    {
        var output = TempFile("inpainted.png");
        var (code, _, stderr) = Diffuse("inpaint", "--model", TinySdInpaint, "--image", Input("init_64x64.png"), "--mask", Input("mask_64x64.png"),
            "--prompt", "A painting of a squirrel eating a burger", "--steps", "10", "--seed", "21", "--output", output);
        Assert.True(code == 0, stderr);
        Assert.True(WorstPixelDifference(output, "pipelines/sdinpaint_pndm_s1.0_seed21") <= 1);
    }

    [Fact]
    public void InpaintWorksWithATextToImageModel()
    {
        var output = TempFile("blend.png");
        var (code, _, stderr) = Diffuse("inpaint", "--model", TinySd, "--image", Input("init_64x96.png"), "--mask", Input("mask_64x96_b.png"),
            "--prompt", "x", "--steps", "3", "--strength", "0.7", "--seed", "1", "--output", output);
        Assert.True(code == 0, stderr);
        using var image = Image.Load<Rgb24>(output);
        Assert.Equal((96, 64), (image.Width, image.Height));
    }

    [Theory]
    [InlineData("img2img", "--image", "missing.png", "missing.png")]
    [InlineData("img2img", "--strength", "1.5", "strength must be in [0, 1]")]
    [InlineData("img2img", "--strength", "0.01", "leaves no denoising step")]
    [InlineData("inpaint", "--image", "missing.jpg", "missing.jpg")]
    [InlineData("inpaint", "--mask", "missing-mask.png", "missing-mask.png")]
    [InlineData("inpaint", "--mask", "mask_64x96_b.png", "the mask must have the image's size")]
    [InlineData("inpaint", "--strength", "-0.5", "strength must be in [0, 1]")]
    [InlineData("inpaint", "--width", "60", "divisible by 8")]
    public void BadInputGivesOneLineErrors(string command, string option, string value, string expected)
    {
        var args = new Dictionary<string, string> { ["--image"] = Input("init_64x64.png"), ["--steps"] = "2" };
        if (command == "inpaint") args["--mask"] = Input("mask_64x64.png");
        args[option] = value.StartsWith("mask_") ? Input(value) : value;
        var (code, _, stderr) = Diffuse([command, "--model", TinySd, "--prompt", "x", .. args.SelectMany(kv => new[] { kv.Key, kv.Value }),
            "--output", TempFile("never.png")]);
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Theory]
    [InlineData("img2img", new[] { "--image", "--strength", "--prompt", "--negative-prompt", "--steps", "--guidance", "--guidance-rescale", "--clip-skip", "--seed", "--num-images", "--eta", "--scheduler", "--scheduler-option", "--model", "--dtype", "--device", "--output" })]
    [InlineData("inpaint", new[] { "--image", "--mask", "--strength", "--width", "--height", "--prompt", "--negative-prompt", "--steps", "--guidance", "--seed", "--scheduler", "--output" })]
    public void HelpExplainsEveryOption(string command, string[] options)
    {
        var (code, stdout, _) = Diffuse(command, "--help");
        Assert.Equal(0, code);
        foreach (var option in options)
            Assert.Contains(option, stdout);
    }
}
