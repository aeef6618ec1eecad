using System.Diagnostics;
using DiffusersSharp.Tests.Support;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiffusersSharp.Tests;

/// <summary>Runs the built <c>diffuse</c> program as a user would.</summary>
public class CliTests
{
    internal static (int ExitCode, string Stdout, string Stderr) Diffuse(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "diffuse.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");

    [Fact]
    public void GenerateWritesOnePngPerImageInDiffusersOrder()
    {
        var dir = Directory.CreateTempSubdirectory("ds-cli-").FullName;
        var output = Path.Combine(dir, "pic.png");
        var (code, stdout, stderr) = Diffuse("generate", "--model", TinySd, "--prompt", "a cat", "--prompt", "a dog",
            "--num-images", "2", "--steps", "2", "--width", "64", "--height", "64", "--seed", "3", "--output", output);
        Assert.True(code == 0, stderr);
        var written = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 4).Select(i => Path.Combine(dir, $"pic-{i}.png")), written);
        foreach (var path in written)
        {
            using var image = Image.Load<Rgb24>(path);
            Assert.Equal(64, image.Width);
        }
    }

    [Fact]
    public void SameSeedGivesSamePictureAsTheLibrary()
    {
        var dir = Directory.CreateTempSubdirectory("ds-cli-").FullName;
        var output = Path.Combine(dir, "one.png");
        var (code, _, stderr) = Diffuse("generate", "--model", TinySd, "--prompt", "A painting of a squirrel eating a burger",
            "--steps", "10", "--width", "64", "--height", "64", "--seed", "0", "--output", output);
        Assert.True(code == 0, stderr);
        AssertMatchesFixturePng(output, "pipelines/sd_txt2img_pndm_cfg7.5_seed0");
    }

    [Fact]
    public void AcceleratorOptionsLeaveTheCpuPictureAsItIs()
    {
        // On the CPU, TF32 has nothing to change and the pipeline's device generator is the CPU's.
        var output = Path.Combine(Directory.CreateTempSubdirectory("ds-cli-").FullName, "one.png");
        var (code, _, stderr) = Diffuse("generate", "--model", TinySd, "--prompt", "A painting of a squirrel eating a burger",
            "--steps", "10", "--width", "64", "--height", "64", "--seed", "0", "--device", "cpu", "--tf32", "--generator-device", "device", "--output", output);
        Assert.True(code == 0, stderr);
        AssertMatchesFixturePng(output, "pipelines/sd_txt2img_pndm_cfg7.5_seed0");
    }

    [Fact]
    public void ShortSchedulerNameSwapsLikeFromConfig()
    {
        // sd_txt2img_dpmpp2m_neg_seed1 is DPMSolverMultistepScheduler.from_config(model config): dpmsolver++, order 2.
        var dir = Directory.CreateTempSubdirectory("ds-cli-").FullName;
        var output = Path.Combine(dir, "dpm.png");
        var (code, _, stderr) = Diffuse("generate", "--model", TinySd, "--prompt", "A painting of a squirrel eating a burger",
            "--negative-prompt", "blurry, low quality", "--scheduler", "dpm++2m", "--steps", "10", "--width", "64", "--height", "64",
            "--seed", "1", "--output", output);
        Assert.True(code == 0, stderr);
        AssertMatchesFixturePng(output, "pipelines/sd_txt2img_dpmpp2m_neg_seed1");
    }

    [Fact]
    public void SchedulersCommandListsShortNamesWithTheirClasses()
    {
        var (code, stdout, _) = Diffuse("schedulers");
        Assert.Equal(0, code);
        Assert.Contains("dpm++2m-karras", stdout);
        Assert.Contains("use_karras_sigmas=true", stdout);
        Assert.Contains("EulerAncestralDiscreteScheduler", stdout);
    }

    private static void AssertMatchesFixturePng(string png, string fixtureCase)
    {
        using var fixture = FixtureCase.Load(fixtureCase);
        var expected = fixture.Tensor("images_uint8");
        using var image = Image.Load<Rgb24>(png);
        var worst = 0;
        for (var y = 0; y < image.Height; y++)
            for (var x = 0; x < image.Width; x++)
            {
                var p = image[x, y];
                worst = Math.Max(worst, Math.Abs(p.R - expected[0, y, x, 0].item<byte>()));
                worst = Math.Max(worst, Math.Abs(p.G - expected[0, y, x, 1].item<byte>()));
                worst = Math.Max(worst, Math.Abs(p.B - expected[0, y, x, 2].item<byte>()));
            }
        Assert.True(worst <= 1, $"max pixel difference {worst} against {fixtureCase}");
    }

    [Theory]
    [InlineData("--width", "60", "divisible by 8")]
    [InlineData("--steps", "0", "num_inference_steps")]
    [InlineData("--guidance", "-1", "guidance_scale")]
    [InlineData("--num-images", "0", "num_images_per_prompt")]
    [InlineData("--scheduler", "FancyScheduler", "FancyScheduler")]
    [InlineData("--dtype", "int8", "--dtype")]
    [InlineData("--generator-device", "gpu", "--generator-device")]
    public void BadOptionsGiveOneLineErrors(string option, string value, string expected)
    {
        string[] steps = option == "--steps" ? [] : ["--steps", "1"];
        var (code, _, stderr) = Diffuse(["generate", "--model", TinySd, "--prompt", "x", .. steps, option, value,
            "--output", Path.Combine(Path.GetTempPath(), "never.png")]);
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("(Parameter '", lines[0]);
        Assert.DoesNotContain("Actual value was", lines[0]);
    }

    [Theory]
    [InlineData("--job-timeout", "-1")]
    [InlineData("--max-attempts", "0")]
    [InlineData("--claim-idle", "0")]
    public void BadWorkerOptionsGiveOneLineErrorsBeforeReachingRedis(string option, string value)
    {
        // Port 1 on loopback: nothing listens there, so an error that is not about the option would name Redis.
        var (code, _, stderr) = Diffuse("worker", "--redis", "127.0.0.1:1", "--models", Path.GetTempPath(), option, value);
        Assert.NotEqual(0, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains(option, line);
    }

    [Fact]
    public void MissingModelFolderIsOneLineError()
    {
        var (code, _, stderr) = Diffuse("generate", "--model", "/nonexistent/model", "--prompt", "x");
        Assert.NotEqual(0, code);
        Assert.Contains("/nonexistent/model", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void HelpExplainsEveryOption()
    {
        var (code, stdout, _) = Diffuse("generate", "--help");
        Assert.Equal(0, code);
        foreach (var option in new[] { "--model", "--prompt", "--negative-prompt", "--steps", "--guidance", "--guidance-rescale", "--clip-skip", "--width", "--height", "--seed", "--num-images", "--scheduler", "--scheduler-option", "--dtype", "--device", "--tf32", "--generator-device", "--output" })
            Assert.Contains(option, stdout);
    }
}
