using System.Globalization;

namespace DiffusersSharp.TrainDemo;

/// <summary>train-demo's options: <c>--name value</c> pairs over <see cref="TrainOptions"/>, with repository-relative defaults.</summary>
public static class CommandLine
{
    public const string Usage =
        "usage: train-demo [--output DIR] [--checkpoints DIR] [--tokenizer DIR] [--seed N] [--vae-steps N] [--vae-kl-weight X] [--unet-steps N] [--layout-steps N] [--polish-steps N] [--pool-size N] [--token-embedding-std X] [--prediction-type v_prediction|epsilon] [--threads N] [--smoke] [--evaluate N [--guidance G]]";

    public static TrainOptions Parse(IReadOnlyList<string> args, out bool smoke, out int evaluate, out double guidanceScale)
    {
        guidanceScale = DemoEvaluation.GuidanceScale;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        smoke = false;
        evaluate = 0;
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--smoke") { smoke = true; continue; }
            if (args[i] is "--help" or "-h") throw new ArgumentException(Usage);
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new ArgumentException($"Unexpected argument '{args[i]}'. {Usage}");
            values[args[i]] = args[++i];
        }

        var root = RepositoryRoot();
        var options = new TrainOptions
        {
            OutputDirectory = Take(values, "--output") ?? Path.Combine(root, "models", "demo-shapes"),
            CheckpointDirectory = Take(values, "--checkpoints") ?? Path.Combine(root, "artifacts", "train-demo"),
            TokenizerDirectory = Take(values, "--tokenizer") ?? Path.Combine(root, "tests", "fixtures", "models", "tiny-sd", "tokenizer"),
        };
        if (Take(values, "--seed") is { } seed) options = options with { Seed = Int("--seed", seed) };
        if (Take(values, "--vae-steps") is { } vaeSteps) options = options with { VaeSteps = Int("--vae-steps", vaeSteps) };
        if (Take(values, "--vae-kl-weight") is { } klWeight) options = options with { VaeKlWeight = NonNegative("--vae-kl-weight", klWeight) };
        if (Take(values, "--unet-steps") is { } unetSteps) options = options with { UnetSteps = Int("--unet-steps", unetSteps) };
        if (Take(values, "--layout-steps") is { } layoutSteps) options = options with { LayoutSteps = Int("--layout-steps", layoutSteps) };
        if (Take(values, "--polish-steps") is { } polishSteps) options = options with { PolishSteps = Int("--polish-steps", polishSteps) };
        if (Take(values, "--pool-size") is { } poolSize) options = options with { LatentPoolSize = Int("--pool-size", poolSize) };
        if (Take(values, "--token-embedding-std") is { } embeddingStd) options = options with { TokenEmbeddingStd = NonNegative("--token-embedding-std", embeddingStd) };
        if (Take(values, "--prediction-type") is { } predictionType) options = options with { PredictionType = predictionType };
        if (Take(values, "--threads") is { } threads) options = options with { Threads = Int("--threads", threads) };
        if (Take(values, "--evaluate") is { } count) evaluate = Int("--evaluate", count);
        if (Take(values, "--guidance") is { } guidance) guidanceScale = NonNegative("--guidance", guidance);
        if (values.Count > 0)
            throw new ArgumentException($"Unknown option {values.Keys.First()}. {Usage}");
        if (!File.Exists(Path.Combine(options.TokenizerDirectory, "vocab.json")))
            throw new DirectoryNotFoundException($"No CLIP tokenizer (vocab.json) in {options.TokenizerDirectory}: pass --tokenizer DIR.");
        return options;
    }

    private static string? Take(Dictionary<string, string> values, string name) =>
        values.Remove(name, out var value) ? value : null;

    private static int Int(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : throw new ArgumentException($"{name} must be a non-negative integer, got '{value}'.");

    private static double NonNegative(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 0
            ? x
            : throw new ArgumentException($"{name} must be a non-negative number, got '{value}'.");

    /// <summary>The folder holding DiffusersSharp.slnx, from the working directory upwards; else the working directory.</summary>
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DiffusersSharp.slnx"))) return dir.FullName;
        return Environment.CurrentDirectory;
    }
}
