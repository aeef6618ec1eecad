using DiffusersSharp.DeviceCheck;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

/// <summary>
/// The device check (tools/DiffusersSharp.DeviceCheck) run on the CPU through its entry point, so that what the GPU
/// machine runs cannot rot: a component, a scheduler and a pipeline case, the precision check, the file list for a
/// slim fixtures copy and a bad case name.
/// </summary>
public class DeviceCheckTests
{
    [Fact]
    public void ParityPassesOnTheCpuAndWritesTheSummary()
    {
        var summary = Path.Combine(Directory.CreateTempSubdirectory("ds-devicecheck-").FullName, "summary.txt");
        var code = DeviceCheckProgram.Run(["parity", "--device", "cpu", "--fixtures", FixtureCase.Root, "--summary", summary,
            "--cases", "components/tiny-sd_unet_scalar_t,schedulers/euler-ancestral_sd_shared,pipelines/sd_txt2img_ddim_cfg1_seed3"]);
        var lines = File.ReadAllLines(summary);
        Assert.True(code == 0, string.Join("\n", lines));
        Assert.Equal(3, lines.Count(l => l.StartsWith("ok    ", StringComparison.Ordinal)));
        Assert.Equal("parity: all 3 cases passed", lines[^1]);
    }

    [Fact]
    public void PrecisionComparesEachDTypeWithTheCpu()
    {
        var summary = Path.Combine(Directory.CreateTempSubdirectory("ds-devicecheck-").FullName, "summary.txt");
        var code = DeviceCheckProgram.Run(["precision", "--device", "cpu", "--fixtures", FixtureCase.Root, "--size", "64", "--steps", "2", "--summary", summary]);
        var lines = File.ReadAllLines(summary);
        Assert.True(code == 0, string.Join("\n", lines));
        Assert.Contains(lines, l => l.StartsWith("ok    Float16: PSNR", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok    BFloat16: PSNR", StringComparison.Ordinal));
    }

    [Fact]
    public void FilesListsWhatTheDefaultCasesRead()
    {
        var files = ParityCheck.DefaultFiles(FixtureCase.Root).ToList();
        Assert.All(files, f => Assert.True(File.Exists(Path.Combine(FixtureCase.Root, f)), f));
        foreach (var name in ParityCheck.DefaultCases(FixtureCase.Root))
            Assert.Contains(name + ".json", files);
        Assert.Contains("models/tiny-sd/unet/diffusion_pytorch_model.safetensors", files);
        Assert.DoesNotContain(files, f => f.StartsWith("models/tiny-sdxl", StringComparison.Ordinal));
    }

    [Fact]
    public void AnUnknownCaseIsABadCommandLine()
    {
        var code = DeviceCheckProgram.Run(["parity", "--device", "cpu", "--fixtures", FixtureCase.Root, "--cases", "components/no-such-case"]);
        Assert.Equal(2, code);
    }
}
