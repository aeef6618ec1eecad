namespace DiffusersSharp.Bench;

/// <summary>Command line of the benchmark.</summary>
/// <param name="Quick">256×256 only, one repeat, fewer stages: under two minutes once the model folder exists.</param>
/// <param name="JsonPath">Where the results go as JSON.</param>
/// <param name="Threads">libtorch threads in every stage (default: libtorch's, all cores).</param>
/// <param name="Only">Stage kinds to run (for working on one); null runs all.</param>
/// <param name="Device">cpu, or cuda / cuda:N for the accelerator plan (UNet step and 50-step Euler generation at 512²).</param>
/// <param name="DTypes">Precisions to measure; null: float32 and bfloat16 on the CPU, float16 on CUDA.</param>
/// <param name="FixturesDirectory">Where tests/fixtures is (the tokenizer and the tiny model); null: the repository's.</param>
internal sealed record BenchOptions(bool Quick, string JsonPath, string WorkDirectory, int? Threads, IReadOnlySet<string>? Only,
    string Device = "cpu", IReadOnlyList<string>? DTypes = null, string? FixturesDirectory = null)
{
    public const string Usage =
        "dotnet run --project bench/DiffusersSharp.Bench -c Release -- [--quick] [--json FILE] [--work DIR] [--threads N] [--only KIND,KIND]\n" +
        "    [--device cpu|cuda|cuda:N] [--dtype D,D] [--fixtures DIR]\n" +
        "  KIND: ops, build, load, text, unet, vae, generate, flat; D: float32, bfloat16, float16";

    public bool OnCuda => Device.StartsWith("cuda", StringComparison.Ordinal);

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var quick = false;
        var json = "bench-results.json";
        var work = Path.Combine(Path.GetTempPath(), "diffusers-sharp-bench");
        int? threads = null;
        HashSet<string>? only = null;
        var device = "cpu";
        string[]? dtypes = null;
        string? fixtures = null;
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            switch (args[i])
            {
                case "--quick": quick = true; break;
                case "--json": json = Value(); break;
                case "--work": work = Value(); break;
                case "--threads": threads = int.Parse(Value()); break;
                case "--only": only = Value().Split(',').ToHashSet(); break;
                case "--device": device = Value(); break;
                case "--dtype": dtypes = Value().Split(','); break;
                case "--fixtures": fixtures = Path.GetFullPath(Value()); break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'.\n{Usage}");
            }
        }
        if (device != "cpu" && device != "cuda" && !device.StartsWith("cuda:", StringComparison.Ordinal))
            throw new ArgumentException($"Unknown --device '{device}': use cpu, cuda or cuda:N.");
        if (dtypes?.FirstOrDefault(d => d is not ("float32" or "bfloat16" or "float16")) is { } bad)
            throw new ArgumentException($"Unknown --dtype '{bad}': use float32, bfloat16 or float16.");
        return new BenchOptions(quick, json, work, threads, only, device, dtypes, fixtures);
    }
}
