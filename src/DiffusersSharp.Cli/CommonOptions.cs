using System.CommandLine;
using System.Globalization;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Cli;

/// <summary>Options every generating command shares, and their conversion to library types.</summary>
internal sealed class CommonOptions
{
    public Option<string> Model { get; } = new("--model", "-m")
    {
        Description = "Diffusers pipeline folder (model_index.json + components). Default: $DIFFUSE_MODEL, else the demo model shipped with the repository (models/demo-shapes).",
    };
    public Option<string> DType { get; } = new("--dtype")
    {
        Description = "Weights and compute precision: float32, float16 or bfloat16.",
        DefaultValueFactory = _ => "float32",
    };
    public Option<string> Device { get; } = new("--device")
    {
        Description = "Device to run on: cpu, cuda or cuda:N.",
        DefaultValueFactory = _ => "cpu",
    };
    public Option<bool> Tf32 { get; } = new("--tf32")
    {
        Description = "On NVIDIA GPUs (Ampere or newer), let float32 matmuls and convolutions use TF32 tensor cores: faster, less exact. Off by default.",
    };
    public Option<int?> Threads { get; } = new("--threads")
    {
        Description = "CPU threads for libtorch (default: all cores).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(DType);
        command.Options.Add(Device);
        command.Options.Add(Tf32);
        command.Options.Add(Threads);
    }

    public string ResolveModel(ParseResult result)
    {
        var model = result.GetValue(Model) ?? NonEmpty(Environment.GetEnvironmentVariable("DIFFUSE_MODEL")) ?? BundledModels.FindDefaultModel();
        if (model is null)
            throw new ArgumentException(
                $"No model given and the demo model (models/demo-shapes) was not found above {Environment.CurrentDirectory} or {AppContext.BaseDirectory}: pass --model DIR (a diffusers pipeline folder) or set DIFFUSE_MODEL.");
        return model;
    }

    public LoadOptions LoadOptions(ParseResult result)
    {
        if (result.GetValue(Threads) is { } threads)
        {
            if (threads < 1) throw new ArgumentOutOfRangeException("--threads", $"--threads must be at least 1, got {threads}.");
            set_num_threads(threads);
        }
        // Explicit both ways: without --tf32 float32 is IEEE float32 throughout (libtorch alone would use TF32 in cuDNN convolutions).
        NativeRuntime.AllowTf32(result.GetValue(Tf32));
        return new LoadOptions { DType = ParseDType(result.GetValue(DType)!), Device = ParseDevice(result.GetValue(Device)!) };
    }

    public static ScalarType ParseDType(string value) => DTypeNames.TryParse(value, out var dtype)
        ? dtype
        : throw new ArgumentException($"Unknown --dtype '{value}': use float32, float16 or bfloat16.");

    public static Device ParseDevice(string value)
    {
        var v = value.ToLowerInvariant();
        if (v == "cpu") return CPU;
        if (v == "cuda" || v.StartsWith("cuda:"))
        {
            if (!cuda.is_available())
                throw new ArgumentException($"--device {value}: CUDA is not available in this build or on this machine (see the README's GPU section).");
            return v == "cuda" ? CUDA : new Device(TorchSharp.DeviceType.CUDA, int.Parse(v[5..], CultureInfo.InvariantCulture));
        }
        throw new ArgumentException($"Unknown --device '{value}': use cpu, cuda or cuda:N.");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
