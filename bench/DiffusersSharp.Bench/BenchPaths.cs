namespace DiffusersSharp.Bench;

/// <summary>Where the benchmark reads configs and fixtures and writes its random-weights model.</summary>
/// <param name="Fixtures">tests/fixtures or a copy of the parts the benchmark reads; null: the repository's.</param>
internal sealed record BenchPaths(string RepositoryRoot, string WorkDirectory, string? Fixtures = null)
{
    public string ConfigDirectory => Path.Combine(RepositoryRoot, "bench", "configs", "sd15");
    public string FixturesDirectory => Fixtures ?? Path.Combine(RepositoryRoot, "tests", "fixtures");
    public string TokenizerDirectory => Path.Combine(FixturesDirectory, "models", "tiny-sd", "tokenizer");
    public string TinyModelDirectory => Path.Combine(FixturesDirectory, "models", "tiny-sd");
    /// <summary>The full-size SD 1.5 folder with random float16 weights that the build stage writes.</summary>
    public string ModelDirectory => Path.Combine(WorkDirectory, "sd15-random-fp16");

    /// <summary>The repository root: the first folder upwards from the working directory, then the program's, that holds bench/configs/sd15.</summary>
    public static string FindRepositoryRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Directory.Exists(Path.Combine(dir.FullName, "bench", "configs", "sd15")))
                    return dir.FullName;
        throw new DirectoryNotFoundException("bench/configs/sd15 not found above the working directory: run the benchmark from the repository.");
    }
}
