namespace DiffusersSharp.Tests;

/// <summary>The test host's settings that keep TorchSharp's finalizer race rare (tests/tests.runsettings).</summary>
public class TestHostSettingsTests
{
    [Fact]
    public void TheTestHostRunsWithALargeFirstGenerationBudget()
    {
        Assert.Equal("0x10000000", Environment.GetEnvironmentVariable("DOTNET_GCgen0size"));
        var before = GC.CollectionCount(0);
        var keep = new object[1000];
        for (var i = 0; i < 1_000_000; i++) keep[i % 1000] = new byte[64];
        // 88 MB of short-lived objects: one or two collections with the 256 MB budget (others run side by side), about 40 without it.
        Assert.True(GC.CollectionCount(0) - before <= 10, $"{GC.CollectionCount(0) - before} first-generation collections");
    }
}
