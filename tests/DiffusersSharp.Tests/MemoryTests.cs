using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

/// <summary>Native memory stays flat over many generations in one process.</summary>
[CollectionDefinition(nameof(MemoryTests), DisableParallelization = true)]
public class MemoryTestsCollection;

/// <summary>Runs alone: other tests' allocations in the same process would move the resident size.</summary>
[Collection(nameof(MemoryTests))]
public class MemoryTests
{
    private static long LiveTensors() => TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("VmRSS not found in /proc/self/status.");
    }

    [Fact]
    public void TwentyGenerationsDoNotGrowResidentMemory()
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        var input = new StableDiffusionInput("a red circle") { Height = 64, Width = 64, NumInferenceSteps = 4, Seed = 1, NumImagesPerPrompt = 2 };
        // Warm up allocator pools and lazily initialised kernels first.
        for (var i = 0; i < 3; i++) pipeline.Generate(input).Dispose();
        GC.Collect();
        var before = ResidentBytes();
        var tensorsBefore = LiveTensors();
        for (var i = 0; i < 20; i++)
        {
            using var output = pipeline.Generate(input with { Seed = i });
            Assert.NotNull(output.Images);
        }
        Assert.Equal(tensorsBefore, LiveTensors());
        GC.Collect();
        var growth = ResidentBytes() - before;
        // One generation's tensors (latents, activations, images) total about 2 MB here; a leak of any of them
        // per generation would add at least that much twenty times over.
        Assert.True(growth < 16L << 20, $"resident memory grew by {growth / (1 << 20)} MiB over 20 generations");
    }
}
