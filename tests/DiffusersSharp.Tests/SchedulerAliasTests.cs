using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Tests;

public class SchedulerAliasTests
{
    [Fact]
    public void EveryAliasNamesAKnownScheduler()
    {
        foreach (var alias in SchedulerAliases.All)
            Assert.Contains(alias.ClassName, SchedulerFactory.KnownClassNames);
    }

    [Fact]
    public void AliasNamesAreUniqueAndCaseInsensitive()
    {
        Assert.Equal(SchedulerAliases.All.Count, SchedulerAliases.All.Select(a => a.Name.ToLowerInvariant()).Distinct().Count());
        Assert.Equal("DPMSolverMultistepScheduler", SchedulerAliases.Find("DPM++2M-Karras")!.ClassName);
        Assert.Null(SchedulerAliases.Find("not-a-scheduler"));
    }
}
