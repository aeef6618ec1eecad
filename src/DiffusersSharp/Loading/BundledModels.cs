namespace DiffusersSharp.Loading;

/// <summary>
/// The models that come with a checkout of the repository: the demo model(s) under <c>models/</c>, else the tiny
/// test model. Searched from the working directory, then the executable's folder, upwards.
/// </summary>
public static class BundledModels
{
    /// <summary>The first model folder (by name) under <c>models/</c>, else <c>tests/fixtures/models/tiny-sd</c>; null outside a checkout.</summary>
    public static string? FindDefaultModel()
    {
        foreach (var dir in SearchedFolders())
        {
            var demo = ModelFolders(Path.Combine(dir, "models")).FirstOrDefault();
            if (demo is not null) return demo;
            var tiny = Path.Combine(dir, "tests", "fixtures", "models", "tiny-sd");
            if (IsModelFolder(tiny)) return tiny;
        }
        return null;
    }

    /// <summary>The sub-folders of <paramref name="modelsFolder"/> that hold a diffusers pipeline, sorted by name.</summary>
    public static IReadOnlyList<string> ModelFolders(string modelsFolder) =>
        Directory.Exists(modelsFolder)
            ? Directory.GetDirectories(modelsFolder).Where(IsModelFolder).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>True when <paramref name="folder"/> holds a pipeline (a <c>model_index.json</c>).</summary>
    public static bool IsModelFolder(string folder) => File.Exists(Path.Combine(folder, "model_index.json"));

    private static IEnumerable<string> SearchedFolders()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                yield return dir.FullName;
    }
}
