using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>
/// Base of every pipeline (diffusers' <c>DiffusionPipeline</c>): owns its components, opens any supported folder by
/// its <c>model_index.json</c>, saves back to the same layout, and moves between devices and dtypes.
/// </summary>
public abstract partial class DiffusionPipeline : IDisposable
{
    private readonly Dictionary<string, object> _components = new(StringComparer.Ordinal);
    private readonly ModelConfig _modelIndex;
    private bool _disposed;

    protected DiffusionPipeline(ModelConfig? modelIndex)
    {
        _modelIndex = modelIndex?.Clone() ?? new ModelConfig();
    }

    /// <summary>The pipeline's diffusers class name, written as <c>_class_name</c>.</summary>
    public abstract string ClassName { get; }

    /// <summary>The components by their model_index.json names.</summary>
    public IReadOnlyDictionary<string, object> Components => _components;

    /// <summary>Pipeline classes <see cref="FromPretrained"/> can open.</summary>
    public static IReadOnlyList<string> SupportedClasses { get; } = ["StableDiffusionPipeline"];

    /// <summary>Opens a diffusers pipeline folder as the pipeline class its model_index.json names.</summary>
    public static DiffusionPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        NativeRuntime.EnsureLoaded();
        var index = ModelIndex.Load(directory);
        return index.ClassName switch
        {
            "StableDiffusionPipeline" => StableDiffusionPipeline.FromPretrained(directory, options),
            var other => throw new NotSupportedException(
                $"{directory} holds a {other}, which DiffusersSharp does not support yet. Supported: {string.Join(", ", SupportedClasses)}."),
        };
    }

    protected void Register(string name, object component) => _components[name] = component;

    /// <summary>Moves every model to a device and/or dtype (diffusers' <c>pipe.to(device, dtype)</c>).</summary>
    public void To(Device? device = null, ScalarType? dtype = null)
    {
        foreach (var model in _components.Values.OfType<ModelMixin>())
            model.MoveTo(device, dtype);
    }

    /// <summary>Writes model_index.json and every component folder in diffusers' layout.</summary>
    public void SavePretrained(string directory, string? variant = null)
    {
        Directory.CreateDirectory(directory);
        var index = _modelIndex.Clone();
        index["_class_name"] = ClassName;
        index.SetDefault("_diffusers_version", "0.38.0");
        foreach (var (name, component) in _components)
        {
            var folder = Path.Combine(directory, name);
            var (library, cls) = component switch
            {
                ModelMixin m => (m is PreTrainedModel ? "transformers" : "diffusers", m.ClassName),
                CLIPTokenizer => ("transformers", "CLIPTokenizer"),
                SchedulerMixin s => ("diffusers", s.ClassName),
                _ => throw new InvalidOperationException($"Component '{name}' of type {component.GetType().Name} cannot be saved."),
            };
            index[name] = new System.Text.Json.Nodes.JsonArray(library, cls);
            switch (component)
            {
                case ModelMixin m: m.SavePretrained(folder, variant); break;
                case CLIPTokenizer t: t.SavePretrained(folder); break;
                case SchedulerMixin s: s.SaveConfig(folder); break;
            }
        }
        index.Save(Path.Combine(directory, "model_index.json"));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var component in _components.Values.OfType<IDisposable>())
            component.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Loads a folder's components by their model_index.json entries, disposing what was loaded if one fails.</summary>
    protected internal sealed class ComponentSet
    {
        private readonly Dictionary<string, object> _loaded = new(StringComparer.Ordinal);

        public T Get<T>(string name) => (T)_loaded[name];

        /// <summary>
        /// Loads the named components. Others the folder lists (a safety checker, a feature extractor) are not loaded:
        /// DiffusersSharp has no safety checker, so its images are never blacked out.
        /// </summary>
        public static TPipeline LoadAll<TPipeline>(ModelIndex index, LoadOptions? options, IReadOnlyList<string> names, Func<ComponentSet, TPipeline> build)
        {
            NativeRuntime.EnsureLoaded();
            var components = new ComponentSet();
            try
            {
                foreach (var name in names)
                    components._loaded[name] = LoadComponent(index, name, index.Require(name), options);
                return build(components);
            }
            catch
            {
                foreach (var c in components._loaded.Values.OfType<IDisposable>()) c.Dispose();
                throw;
            }
        }

        private static object LoadComponent(ModelIndex index, string name, ComponentSpec spec, LoadOptions? options)
        {
            var folder = index.PathOf(name);
            options = options?.ForComponent(name);
            return spec.ClassName switch
            {
                "AutoencoderKL" => AutoencoderKL.FromPretrained(folder, options),
                "UNet2DConditionModel" => UNet2DConditionModel.FromPretrained(folder, options),
                "CLIPTextModel" => CLIPTextModel.FromPretrained(folder, options),
                "CLIPTokenizer" or "CLIPTokenizerFast" => CLIPTokenizer.FromPretrained(folder),
                _ when spec.Library == "diffusers" && spec.ClassName!.EndsWith("Scheduler") => SchedulerFactory.FromPretrained(folder),
                _ => throw new NotSupportedException($"Component '{name}' in {index.Directory} is a {spec.ClassName} ({spec.Library}), which DiffusersSharp does not support yet."),
            };
        }
    }
}
