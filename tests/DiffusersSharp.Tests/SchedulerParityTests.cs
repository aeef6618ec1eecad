using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// Every scheduler fixture case (tests/fixtures/schedulers): timesteps and sigmas for each N, the N diffusers refuses,
/// init_noise_sigma, a 10-step loop with a fixed linear "model", and add_noise / scale_noise.
/// </summary>
public class SchedulerParityTests
{
    private static readonly int[] StepCounts = [1, 4, 10, 25, 50];

    public static TheoryData<string> Cases() => new(FixtureCase.List("schedulers").Where(c => SchedulerFactory.KnownClassNames.Contains(ClassOf(c))));

    private static string ClassOf(string caseName) =>
        JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf(caseName + ".json")))!["scheduler"]!["class"]!.GetValue<string>();

    [Fact]
    public void EveryFixtureSchedulerIsImplemented()
    {
        var missing = FixtureCase.List("schedulers").Select(ClassOf).Distinct().Except(SchedulerFactory.KnownClassNames).Order().ToList();
        Assert.True(missing.Count == 0, "Scheduler fixtures without an implementation: " + string.Join(", ", missing));
    }

    private static SchedulerMixin Build(FixtureCase fixture)
    {
        var scheduler = fixture.Manifest["scheduler"]!;
        var config = ModelConfig.Parse(scheduler["config"]!.ToJsonString(), fixture.Name);
        return SchedulerFactory.FromConfig(scheduler["class"]!.GetValue<string>(), config);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TimestepsSigmasAndInitNoiseSigmaMatch(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var errors = fixture.Manifest["timesteps_errors"]!.AsObject();
        foreach (var n in StepCounts)
        {
            using var scheduler = Build(fixture);
            if (errors.ContainsKey(n.ToString()))
            {
                Assert.ThrowsAny<ArgumentException>(() => scheduler.SetTimesteps(n));
                continue;
            }
            scheduler.SetTimesteps(n);
            var expectedTimesteps = fixture.Tensor($"timesteps_N{n}");
            Assert.Equal(expectedTimesteps.dtype, scheduler.Timesteps.dtype);
            TensorAssert.Equal(expectedTimesteps, scheduler.Timesteps, $"timesteps_N{n}");
            if (fixture.Has($"sigmas_N{n}"))
                TensorAssert.Equal(fixture.Tensor($"sigmas_N{n}"), scheduler.Sigmas!, $"sigmas_N{n}");
            var initNoiseSigma = fixture.Manifest["init_noise_sigma"]![n.ToString()];
            Assert.Equal(initNoiseSigma is null ? 1.0 : initNoiseSigma.GetValue<double>(), scheduler.InitNoiseSigma);
        }
    }

    /// <param name="hostTimesteps">Pass each timestep with its host value as the pipelines do, or as a bare tensor whose value the scheduler reads.</param>
    [Theory]
    [MemberData(nameof(LoopCases))]
    public void DenoisingLoopMatches(string caseName, bool hostTimesteps)
    {
        using var fixture = FixtureCase.Load(caseName);
        var loop = fixture.Manifest["loop"]!;
        using var scheduler = Build(fixture);
        scheduler.SetTimesteps(loop["num_inference_steps"]!.GetValue<int>());
        TensorAssert.Equal(fixture.Tensor("loop_timesteps"), scheduler.Timesteps, "loop_timesteps");

        var eta = loop["step_kwargs"]!["eta"]?.GetValue<double>() ?? 0.0;
        using var generator = loop["generator"] is JsonValue g ? new Generator((ulong)SeedOf(g.GetValue<string>()), CPU) : null;
        var expected = fixture.Tensor("loop_prev_sample");
        using var scope = NewDisposeScope();
        var sample = fixture.Tensor("loop_noise0") * (loop["init_noise_sigma"]?.GetValue<double>() ?? 1.0);
        var steps = (int)scheduler.Timesteps.shape[0];
        for (var i = 0; i < steps; i++)
        {
            var t = hostTimesteps ? scheduler.TimestepAt(i) : scheduler.Timesteps[i];
            var modelInput = scheduler.ScaleModelInput(sample, t);
            var modelOutput = modelInput * 0.1 + 0.01 * (t.Tensor.to(ScalarType.Float64).item<double>() / 1000);
            var output = scheduler.Step(modelOutput, t, sample, generator, eta);
            sample = output.PrevSample;
            TensorAssert.Close(expected[i], sample, 1e-5, $"{caseName} loop_prev_sample[{i}]");
        }
    }

    public static TheoryData<string, bool> LoopCases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in FixtureCase.List("schedulers").Where(c => SchedulerFactory.KnownClassNames.Contains(ClassOf(c))))
        {
            data.Add(c, true);
            data.Add(c, false);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AddNoiseMatches(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var spec = fixture.Manifest["add_noise"]!;
        var original = fixture.Tensor("add_noise_original");
        var noise = fixture.Tensor("add_noise_noise");
        var timesteps = fixture.Tensor("add_noise_timesteps");
        using var scope = NewDisposeScope();
        Tensor actual;
        if (spec["method"]!.GetValue<string>() == "scale_noise")
        {
            var perRow = spec["mode"]!.GetValue<string>().Contains("row i");
            actual = perRow
                ? cat(Enumerable.Range(0, (int)timesteps.shape[0]).Select(i => ScaleNoise(fixture, original[i..(i + 1)], timesteps[i], noise[i..(i + 1)])).ToArray())
                : ScaleNoise(fixture, original, timesteps, noise);
        }
        else
        {
            using var scheduler = Build(fixture);
            scheduler.SetTimesteps(10);
            actual = scheduler.AddNoise(original, noise, timesteps);
        }
        TensorAssert.Close(fixture.Tensor("add_noise_out"), actual, 1e-6, $"{caseName} add_noise_out");
    }

    private static Tensor ScaleNoise(FixtureCase fixture, Tensor sample, Tensor timestep, Tensor noise)
    {
        using var scheduler = Build(fixture);
        scheduler.SetTimesteps(10);
        return ((IFlowMatchScheduler)scheduler).ScaleNoise(sample, timestep, noise);
    }

    private static long SeedOf(string description) =>
        long.Parse(Regex.Match(description, @"manual_seed\((\d+)\)").Groups[1].Value);
}
