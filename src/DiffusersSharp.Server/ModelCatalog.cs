using System.Text.RegularExpressions;
using DiffusersSharp.Loading;
using DiffusersSharp.Serving.Api;

namespace DiffusersSharp.Server;

/// <summary>
/// The models folder and the names in it. A name resolves only to a direct sub-folder holding a pipeline: no path
/// separators, no <c>..</c>, no absolute paths, so a request can never open a folder outside it.
/// </summary>
public sealed partial class ModelCatalog
{
    public ModelCatalog(ServerOptions options)
    {
        if (options.Models is { } models)
        {
            Folder = Path.GetFullPath(models);
            if (!Directory.Exists(Folder)) throw new InvalidOperationException($"The models folder {Folder} does not exist.");
            DefaultModel = options.DefaultModel ?? BundledModels.ModelFolders(Folder).Select(Path.GetFileName).FirstOrDefault()
                ?? throw new InvalidOperationException($"The models folder {Folder} holds no model (a sub-folder with model_index.json).");
        }
        else
        {
            var bundled = BundledModels.FindDefaultModel()
                ?? throw new InvalidOperationException("No models folder: pass --models DIR (its sub-folders are diffusers pipelines) or set Diffuse__Models.");
            Folder = Path.GetDirectoryName(Path.GetFullPath(bundled))!;
            DefaultModel = options.DefaultModel ?? Path.GetFileName(bundled);
        }
        if (TryResolve(DefaultModel) is null)
            throw new InvalidOperationException($"The default model '{DefaultModel}' is not a model folder inside {Folder}.");
    }

    public string Folder { get; }
    public string DefaultModel { get; }

    public IReadOnlyList<ModelEntry> List() =>
        BundledModels.ModelFolders(Folder)
            .Select(dir => new ModelEntry(Path.GetFileName(dir), ModelIndex.Load(dir).ClassName, Path.GetFileName(dir) == DefaultModel))
            .ToList();

    /// <summary>Why <paramref name="name"/> cannot name a model, or null when it is a valid name (which may still be unknown).</summary>
    public static string? NameProblem(string name) =>
        SafeName().IsMatch(name) && name is not ("." or "..")
            ? null
            : $"'{name}' is not a model name: use a folder name from GET /v1/models (letters, digits, '.', '_', '-'; no paths).";

    /// <summary>The folder of the model called <paramref name="name"/>, or null when it is not a valid, existing model name.</summary>
    public string? TryResolve(string name)
    {
        if (NameProblem(name) is not null) return null;
        var path = Path.GetFullPath(Path.Combine(Folder, name));
        return Path.GetDirectoryName(path) == Folder && BundledModels.IsModelFolder(path) ? path : null;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeName();
}
