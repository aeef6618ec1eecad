using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Loading;

/// <summary>
/// Finds a component's weight files (single, variant, sharded) and copies them tensor by tensor into a module's
/// parameters and buffers, checking that every name is present with the module's shape.
/// </summary>
public static class WeightsLoader
{
    /// <summary>The safetensors files holding <paramref name="baseName"/> weights in <paramref name="directory"/>.</summary>
    public static IReadOnlyList<string> FindWeightFiles(string directory, string baseName, string? variant)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model folder not found: {directory}");
        var suffix = variant is null ? "" : "." + variant;
        var single = Path.Combine(directory, $"{baseName}{suffix}.safetensors");
        if (File.Exists(single)) return [single];

        // diffusers names a variant index "<base>.safetensors.index.<variant>.json".
        var index = Path.Combine(directory, variant is null ? $"{baseName}.safetensors.index.json" : $"{baseName}.safetensors.index.{variant}.json");
        if (File.Exists(index)) return ShardsFromIndex(index, directory);

        var pickle = Path.Combine(directory, $"{baseName}{suffix}.bin");
        if (File.Exists(pickle))
            throw new NotSupportedException($"{pickle} is a pickle checkpoint; DiffusersSharp reads only safetensors. Re-save the model with safe_serialization=True.");
        var present = Directory.GetFiles(directory).Select(Path.GetFileName).Where(f => f!.EndsWith(".safetensors") || f.EndsWith(".json"));
        throw new FileNotFoundException(
            $"No weights in {directory}: expected {Path.GetFileName(single)} or {Path.GetFileName(index)}" +
            (variant is null ? "" : $" (variant '{variant}')") + $". Files there: {string.Join(", ", present)}", single);
    }

    private static IReadOnlyList<string> ShardsFromIndex(string indexPath, string directory)
    {
        var config = ModelConfig.Load(indexPath);
        if (config["weight_map"] is not JsonObject map)
            throw new InvalidDataException($"{indexPath} has no 'weight_map' object.");
        var files = map.Select(kv => kv.Value!.GetValue<string>()).Distinct().Select(f => Path.Combine(directory, f)).ToList();
        foreach (var f in files)
            if (!File.Exists(f)) throw new FileNotFoundException($"Shard {Path.GetFileName(f)} named in {indexPath} is missing.", f);
        return files;
    }

    /// <summary>
    /// Loads every parameter and buffer of <paramref name="module"/> from <paramref name="files"/>. Names in the
    /// files that the module lacks are an error unless <paramref name="ignoreUnexpected"/> accepts them.
    /// </summary>
    public static void LoadInto(nn.Module module, IReadOnlyList<string> files, Func<string, bool>? ignoreUnexpected = null)
    {
        // state_dict holds the module's own parameter and persistent buffer tensors, so writing into them loads the model.
        var targets = module.state_dict();

        var loaded = new HashSet<string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var path in files)
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var entry in file.Entries.Values)
            {
                if (!targets.TryGetValue(entry.Name, out var target))
                {
                    if (ignoreUnexpected?.Invoke(entry.Name) != true) unexpected.Add(entry.Name);
                    continue;
                }
                if (!target.shape.SequenceEqual(entry.Shape))
                    throw new InvalidDataException(
                        $"Weight '{entry.Name}' in {path} has shape [{string.Join(", ", entry.Shape)}] but the model built from its config expects [{string.Join(", ", target.shape)}].");
                file.ReadInto(entry.Name, target);
                loaded.Add(entry.Name);
            }
        }
        var missing = targets.Keys.Where(k => !loaded.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"Weights missing from {string.Join(", ", files.Select(Path.GetFileName))}: {Describe(missing)}.");
        if (unexpected.Count > 0)
            throw new InvalidDataException($"Weights in {string.Join(", ", files.Select(Path.GetFileName))} that the model built from its config does not have: {Describe(unexpected)}. The config and the weights do not belong together.");
    }

    private static string Describe(List<string> names) =>
        names.Count <= 8 ? string.Join(", ", names) : string.Join(", ", names.Take(8)) + $" and {names.Count - 8} more";
}
