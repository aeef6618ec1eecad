using System.Text.Json.Nodes;

namespace DiffusersSharp.Loading;

/// <summary>One entry of <c>model_index.json</c>: the library and class a component folder holds (both null for an absent one).</summary>
public sealed record ComponentSpec(string Name, string? Library, string? ClassName)
{
    public bool IsPresent => Library is not null && ClassName is not null;
}

/// <summary>A pipeline folder's <c>model_index.json</c>: its pipeline class and its components by name.</summary>
public sealed class ModelIndex
{
    private ModelIndex(string directory, ModelConfig config, IReadOnlyDictionary<string, ComponentSpec> components)
    {
        Directory = directory;
        Config = config;
        Components = components;
    }

    public string Directory { get; }
    public ModelConfig Config { get; }
    public IReadOnlyDictionary<string, ComponentSpec> Components { get; }

    public string ClassName => Config.ClassName ?? throw new InvalidDataException($"{Path.Combine(Directory, "model_index.json")} has no _class_name.");

    public static ModelIndex Load(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model folder not found: {directory}");
        var path = Path.Combine(directory, "model_index.json");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{directory} is not a diffusers pipeline folder: model_index.json is missing.", path);
        var config = ModelConfig.Load(path);
        var components = new Dictionary<string, ComponentSpec>(StringComparer.Ordinal);
        foreach (var key in config.Keys)
        {
            if (key.StartsWith('_') || config[key] is not JsonArray { Count: 2 } pair) continue;
            components[key] = new ComponentSpec(key, pair[0]?.GetValue<string>(), pair[1]?.GetValue<string>());
        }
        return new ModelIndex(directory, config, components);
    }

    /// <summary>The spec of a component the pipeline needs, with a clear error when the folder lacks it.</summary>
    public ComponentSpec Require(string name, params string[] acceptedClasses)
    {
        if (!Components.TryGetValue(name, out var spec) || !spec.IsPresent)
            throw new InvalidDataException($"model_index.json in {Directory} has no '{name}' component, which {ClassName} needs.");
        if (acceptedClasses.Length > 0 && !acceptedClasses.Contains(spec.ClassName))
            throw new NotSupportedException($"Component '{name}' in {Directory} is a {spec.ClassName}; DiffusersSharp supports {string.Join(", ", acceptedClasses)} there.");
        var folder = Path.Combine(Directory, name);
        if (!System.IO.Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Component folder '{name}' named in model_index.json is missing: {folder}");
        return spec;
    }

    public string PathOf(string component) => Path.Combine(Directory, component);
}
