using DiffusersSharp.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using static DiffusersSharp.Tests.CliTests;

namespace DiffusersSharp.Tests;

/// <summary><c>diffuse controlnet</c> run as a user would.</summary>
public class ControlNetCliTests
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");
    private static string TinyControlNet => FixtureCase.PathOf("models/tiny-controlnet");
    private static string ControlImage => FixtureCase.PathOf("inputs/control_64x64.png");

    private static string TempPng(string name) => Path.Combine(Directory.CreateTempSubdirectory("ds-cli-cn-").FullName, name);

    [Fact]
    public void SameSeedGivesDiffusersPicture()
    {
        var output = TempPng("cn.png");
        var (code, stdout, stderr) = Diffuse("controlnet", "--model", TinySd, "--controlnet", TinyControlNet, "--control-image", ControlImage,
            "--prompt", "A painting of a squirrel eating a burger", "--steps", "10", "--seed", "41", "--scheduler", "DDIMScheduler", "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Equal(output, stdout.Trim());

        using var fixture = FixtureCase.Load("pipelines/controlnet_ddim_scale1.0_seed41");
        var expected = fixture.Tensor("images_uint8");
        using var image = Image.Load<Rgb24>(output);
        var worst = 0;
        for (var y = 0; y < 64; y++)
            for (var x = 0; x < 64; x++)
            {
                var p = image[x, y];
                worst = Math.Max(worst, Math.Abs(p.R - expected[0, y, x, 0].item<byte>()));
                worst = Math.Max(worst, Math.Abs(p.G - expected[0, y, x, 1].item<byte>()));
                worst = Math.Max(worst, Math.Abs(p.B - expected[0, y, x, 2].item<byte>()));
            }
        Assert.True(worst <= 1, $"max pixel difference {worst}");
    }

    [Fact]
    public void CannyAndTwoControlNetsRun()
    {
        var output = TempPng("canny.png");
        var (code, _, stderr) = Diffuse("controlnet", "--model", TinySd, "--controlnet", TinyControlNet, "--controlnet", TinyControlNet,
            "--control-image", FixtureCase.PathOf("inputs/init_64x96.png"), "--control-image", FixtureCase.PathOf("inputs/init_64x96.png"),
            "--control-scale", "0.5", "--control-scale", "0.7", "--control-start", "0.1", "--control-end", "0.9", "--canny", "100,200",
            "--guess-mode", "--guidance", "4", "--prompt", "a house", "--steps", "2", "--seed", "1", "--output", output);
        Assert.True(code == 0, stderr);
        using var image = Image.Load<Rgb24>(output);
        Assert.Equal((96, 64), (image.Width, image.Height));
    }

    [Theory]
    [InlineData(new[] { "--controlnet", "CN", "--controlnet", "CN", "--control-image", "IMG" }, "2 --controlnet but 1 --control-image")]
    [InlineData(new[] { "--controlnet", "CN", "--control-image", "/nonexistent/edges.png" }, "/nonexistent/edges.png")]
    [InlineData(new[] { "--controlnet", "/nonexistent/cn", "--control-image", "IMG" }, "ControlNet folder not found: /nonexistent/cn")]
    [InlineData(new[] { "--controlnet", "CN", "--control-image", "IMG", "--canny", "200,100" }, "--canny expects LOW,HIGH")]
    [InlineData(new[] { "--controlnet", "CN", "--control-image", "IMG", "--canny", "fine" }, "--canny expects LOW,HIGH")]
    [InlineData(new[] { "--controlnet", "CN", "--control-image", "IMG", "--control-scale", "1", "--control-scale", "2" }, "2 --control-scale for 1 --controlnet")]
    [InlineData(new[] { "--controlnet", "CN", "--control-image", "IMG", "--control-start", "0.8", "--control-end", "0.2" }, "control guidance start")]
    [InlineData(new[] { "--control-image", "IMG" }, "without ControlNets: give --controlnet DIR")]
    public void BadOptionsGiveOneLineErrors(string[] options, string expected)
    {
        var args = options.Select(o => o switch { "CN" => TinyControlNet, "IMG" => ControlImage, _ => o });
        var (code, _, stderr) = Diffuse(["controlnet", "--model", TinySd, "--prompt", "x", "--steps", "1", .. args, "--output", TempPng("never.png")]);
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public void HelpExplainsEveryOption()
    {
        var (code, stdout, _) = Diffuse("controlnet", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--model", "--controlnet", "--control-image", "--control-scale", "--control-start", "--control-end", "--canny", "--guess-mode", "--prompt", "--negative-prompt", "--steps", "--guidance", "--seed", "--num-images", "--scheduler", "--output" })
            Assert.Contains(option, stdout);
    }
}
