namespace DiffusersSharp.Bench;

/// <summary>Command line of the benchmark.</summary>
/// <param name="Quick">256×256 only, one repeat, fewer stages: under two minutes once the model folder exists.</param>
/// <param name="JsonPath">Where the results go as JSON.</param>
/// <param name="Threads">libtorch threads in every stage (default: libtorch's, all cores).</param>
/// <param name="Only">Stage kinds to run (for working on one); null runs all.</param>
internal sealed record BenchOptions(bool Quick, string JsonPath, string WorkDirectory, int? Threads, IReadOnlySet<string>? Only)
{
    public const string Usage =
        "dotnet run --project bench/DiffusersSharp.Bench -c Release -- [--quick] [--json FILE] [--work DIR] [--threads N] [--only KIND,KIND]\n" +
        "  KIND: ops, build, load, text, unet, vae, generate, flat";

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var quick = false;
        var json = "bench-results.json";
        var work = Path.Combine(Path.GetTempPath(), "diffusers-sharp-bench");
        int? threads = null;
        HashSet<string>? only = null;
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
                default: throw new ArgumentException($"Unknown argument '{args[i]}'.\n{Usage}");
            }
        }
        return new BenchOptions(quick, json, work, threads, only);
    }
}
