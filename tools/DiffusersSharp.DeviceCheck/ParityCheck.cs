using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.DeviceCheck;

/// <summary>
/// Golden fixture cases on a device in float32 with TF32 off, at the fixtures README's tolerances (the test suite's
/// comparisons: <see cref="TensorAssert"/>, <see cref="PipelineFixture"/>): the UNet, VAE decoder and text encoder
/// components, scheduler trajectories and the Stable Diffusion text-to-image pipeline cases.
/// </summary>
public static class ParityCheck
{
    /// <summary>The cases a device check runs: the tiny SD model's components, schedulers of each family and every sd_txt2img case.</summary>
    public static IReadOnlyList<string> DefaultCases(string fixtures) =>
    [
        "components/tiny-sd_unet_scalar_t",
        "components/tiny-sd_unet_vector_t",
        "components/tiny-sd_vae_decode_shared",
        "components/tiny-sd_text_encoder_shared",
        "schedulers/pndm_sd_shared",
        "schedulers/ddim-eta0.5_sd_shared",
        "schedulers/euler_sd_shared",
        "schedulers/euler-ancestral_sd_shared",
        "schedulers/dpmpp-2m-karras_sd_shared",
        "schedulers/dpmpp-2m-sde_sd_shared",
        "schedulers/heun_sd_shared",
        "schedulers/unipc_sd_shared",
        "schedulers/lcm_sd_shared",
        .. FixtureCase.ListIn(fixtures, "pipelines", "sd_txt2img_"),
    ];

    /// <summary>The files under the fixtures folder that <see cref="DefaultCases"/> read (manifests, tensors, the tiny SD model).</summary>
    public static IEnumerable<string> DefaultFiles(string fixtures)
    {
        foreach (var name in DefaultCases(fixtures))
            foreach (var extension in new[] { ".json", ".safetensors" })
                if (File.Exists(Path.Combine(fixtures, name + extension)))
                    yield return name + extension;
        var model = Path.Combine(fixtures, "models", "tiny-sd");
        foreach (var file in Directory.GetFiles(model, "*", SearchOption.AllDirectories).Order())
            yield return Path.GetRelativePath(fixtures, file);
    }

    public static int Run(DeviceCheckOptions options)
    {
        NativeRuntime.AllowTf32(false);
        var cases = options.Cases ?? DefaultCases(options.Fixtures);
        options.Report($"parity on {options.Device}, float32, TF32 off: {cases.Count} cases");
        var failed = 0;
        foreach (var name in cases)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                using var fixture = FixtureCase.Load(options.Fixtures, name);
                using var noGrad = no_grad();
                using var scope = NewDisposeScope();
                RunCase(fixture, name, options.Device);
                options.Report($"ok    {name} ({watch.Elapsed.TotalSeconds:F1} s)");
            }
            catch (FileNotFoundException)
            {
                throw;
            }
            catch (Exception e)
            {
                failed++;
                options.Report($"FAIL  {name}: {e.Message.Split('\n')[0]}");
            }
        }
        options.Report(failed == 0 ? $"parity: all {cases.Count} cases passed" : $"parity: {failed} of {cases.Count} cases failed");
        return failed == 0 ? 0 : 1;
    }

    private static void RunCase(FixtureCase fixture, string name, Device device)
    {
        var load = new LoadOptions { Device = device };
        var manifest = fixture.Manifest;
        if (name.StartsWith("pipelines/sd_txt2img_", StringComparison.Ordinal))
        {
            var (pipeline, input) = PipelineFixture.StableDiffusionFromManifest(fixture, load);
            using var _ = pipeline;
            PipelineFixture.AssertMatches(fixture, (callback, outputType) => pipeline.Generate(input with { CallbackOnStepEnd = callback, OutputType = outputType }));
        }
        else if (name.StartsWith("schedulers/", StringComparison.Ordinal))
            SchedulerLoop(fixture, device);
        else if (name.Contains("_unet", StringComparison.Ordinal))
        {
            using var unet = UNet2DConditionModel.FromPretrained(fixture.ModelPath(manifest["model"]!.GetValue<string>()), load);
            var actual = unet.Forward(Input(fixture, "sample", device), Input(fixture, "timestep", device), Input(fixture, "encoder_hidden_states", device));
            TensorAssert.Close(fixture.Tensor("sample_out"), actual, 1e-4, "sample_out");
        }
        else if (name.Contains("_vae_decode", StringComparison.Ordinal))
        {
            using var vae = AutoencoderKL.FromPretrained(fixture.ModelPath(manifest["model"]!.GetValue<string>()), load);
            TensorAssert.Close(fixture.Tensor("sample_out"), vae.Decode(Input(fixture, "z", device)), what: "sample_out");
        }
        else if (name.Contains("_text_encoder", StringComparison.Ordinal))
        {
            using var model = CLIPTextModel.FromPretrained(fixture.ModelPath(manifest["model"]!.GetValue<string>()), load);
            using var output = model.Forward(Input(fixture, "input_ids", device));
            TensorAssert.Close(fixture.Tensor("last_hidden_state"), output.LastHiddenState, what: "last_hidden_state");
            TensorAssert.Close(fixture.Tensor("pooler_output"), output.PooledOutput, what: "pooler_output");
        }
        else
            throw new ArgumentException($"The device check has no runner for {name}.");
    }

    /// <summary>The call argument <paramref name="name"/> (<c>"tensor:NAME"</c> in the manifest) on the device.</summary>
    private static Tensor Input(FixtureCase fixture, string name, Device device)
    {
        var call = fixture.Manifest["call"]!.AsObject();
        var value = call[name]!.GetValue<string>();
        return fixture.Tensor(value["tensor:".Length..]).to(device);
    }

    /// <summary>The scheduler fixture's 10-step loop (see tests/fixtures/README.md) with samples on the device and timesteps passed with their host values.</summary>
    private static void SchedulerLoop(FixtureCase fixture, Device device)
    {
        var spec = fixture.Manifest["scheduler"]!;
        var loop = fixture.Manifest["loop"]!;
        using var scheduler = SchedulerFactory.FromConfig(spec["class"]!.GetValue<string>(), ModelConfig.Parse(spec["config"]!.ToJsonString(), fixture.Name));
        scheduler.SetTimesteps(loop["num_inference_steps"]!.GetValue<int>(), device);
        var eta = loop["step_kwargs"]!["eta"]?.GetValue<double>() ?? 0.0;
        using var generator = loop["generator"] is JsonValue g
            ? new Generator(ulong.Parse(Regex.Match(g.GetValue<string>(), @"manual_seed\((\d+)\)").Groups[1].Value), CPU)
            : null;
        var expected = fixture.Tensor("loop_prev_sample");
        var sample = fixture.Tensor("loop_noise0").to(device) * (loop["init_noise_sigma"]?.GetValue<double>() ?? 1.0);
        for (var i = 0; i < scheduler.TimestepValues.Count; i++)
        {
            var t = scheduler.TimestepAt(i);
            var modelOutput = scheduler.ScaleModelInput(sample, t) * 0.1 + 0.01 * (t.Value!.Value / 1000);
            sample = scheduler.Step(modelOutput, t, sample, generator, eta).PrevSample;
            TensorAssert.Close(expected[i], sample, 1e-5, $"loop_prev_sample[{i}]");
        }
    }
}
