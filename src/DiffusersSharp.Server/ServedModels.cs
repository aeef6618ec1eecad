using DiffusersSharp.Loading;

namespace DiffusersSharp.Server;

/// <summary>The models folder the service serves and its default model, from the options or the repository's bundled models.</summary>
public sealed record ServedModels(string Folder, string DefaultModel)
{
    public static ServedModels From(ServerOptions options)
    {
        if (options.Models is { } models)
        {
            var folder = Path.GetFullPath(models);
            if (!Directory.Exists(folder)) throw new InvalidOperationException($"The models folder {folder} does not exist.");
            var first = BundledModels.ModelFolders(folder).Select(Path.GetFileName).FirstOrDefault();
            return new ServedModels(folder, options.DefaultModel ?? first
                ?? throw new InvalidOperationException($"The models folder {folder} holds no model (a sub-folder with model_index.json)."));
        }
        var bundled = BundledModels.FindDefaultModel()
            ?? throw new InvalidOperationException("No models folder: pass --models DIR (its sub-folders are diffusers pipelines) or set Diffuse__Models.");
        return new ServedModels(Path.GetDirectoryName(Path.GetFullPath(bundled))!, options.DefaultModel ?? Path.GetFileName(bundled));
    }
}
