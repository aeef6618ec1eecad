using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// The denoising loop reads nothing back to the host (issue 6): every scheduler fixture's loop runs with the schedule,
/// the samples and the model outputs on the meta device, where any read of a tensor's value (<c>item</c>, <c>nonzero</c>,
/// a copy to the CPU) throws. Timesteps are passed with their host values, as <see cref="Pipelines.DenoisingLoop"/> does.
/// </summary>
public class SchedulerHostReadTests
{
    private static readonly Device Meta = new(TorchSharp.DeviceType.META);

    public static TheoryData<string> Cases() => SchedulerParityTests.Cases();

    private static SchedulerMixin Build(string caseName)
    {
        var scheduler = JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf(caseName + ".json")))!["scheduler"]!;
        var config = ModelConfig.Parse(scheduler["config"]!.ToJsonString(), caseName);
        return SchedulerFactory.FromConfig(scheduler["class"]!.GetValue<string>(), config);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LoopOnTheMetaDeviceReadsNothingBack(string caseName)
    {
        foreach (var begin in new[] { 0, 4 })
        {
            using var scheduler = Build(caseName);
            scheduler.SetTimesteps(10, Meta);
            Assert.Equal(TorchSharp.DeviceType.META, scheduler.Timesteps.device_type);
            var first = begin * scheduler.Order;
            // img2img: the pipelines tell the scheduler where stepping starts.
            if (begin > 0) scheduler.SetBeginIndex(first);
            RunLoop(scheduler, first, i => scheduler.TimestepAt(i));
        }
    }

    [Fact]
    public void TheMetaDeviceCatchesAReadOfTheTimestep()
    {
        // Without host values PNDM reads each timestep from its tensor: on the meta device that read throws.
        using var scheduler = Build("schedulers/pndm_sd_shared");
        scheduler.SetTimesteps(10, Meta);
        Assert.ThrowsAny<Exception>(() => RunLoop(scheduler, 0, i => scheduler.Timesteps[i]));
    }

    private static void RunLoop(SchedulerMixin scheduler, int first, Func<int, SchedulerTimestep> timestepAt)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator(0, CPU);
        var sample = empty([1, 4, 8, 8], ScalarType.Float32, Meta);
        var steps = (int)scheduler.Timesteps.shape[0];
        for (var i = first; i < steps; i++)
        {
            var t = timestepAt(i);
            var modelInput = scheduler.ScaleModelInput(sample, t);
            sample = scheduler.Step(modelInput * 0.1 + 0.01, t, sample, generator, eta: 0.5).PrevSample;
            Assert.Equal(TorchSharp.DeviceType.META, sample.device_type);
        }
    }
}
