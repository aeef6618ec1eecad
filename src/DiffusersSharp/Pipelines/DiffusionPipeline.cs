using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Pipelines.StableDiffusionXL;
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
    // Components another pipeline owns (diffusers' from_pipe): used and saved here, disposed by their owner.
    private readonly HashSet<string> _shared = new(StringComparer.Ordinal);
    private readonly ModelConfig _modelIndex;
    private bool _disposed;

    /// <param name="scheduler">The pipeline's own scheduler, registered as the <c>scheduler</c> component.</param>
    protected DiffusionPipeline(SchedulerMixin scheduler, ModelConfig? modelIndex)
    {
        _modelIndex = modelIndex?.Clone() ?? new ModelConfig();
        Register("scheduler", scheduler);
    }

    /// <summary>The pipeline's diffusers class name, written as <c>_class_name</c>.</summary>
    public abstract string ClassName { get; }

    /// <summary>The components by their model_index.json names.</summary>
    public IReadOnlyDictionary<string, object> Components => _components;

    /// <summary>The scheduler that steps the denoising loop (diffusers' <c>pipe.scheduler</c>).</summary>
    public SchedulerMixin Scheduler => (SchedulerMixin)_components["scheduler"];

    /// <summary>Replaces the scheduler (the old one is disposed), as assigning <c>pipe.scheduler</c> does in diffusers.</summary>
    public void SetScheduler(SchedulerMixin scheduler) => Replace("scheduler", scheduler);

    /// <summary>Pipeline classes <see cref="FromPretrained"/> can open.</summary>
    public static IReadOnlyList<string> SupportedClasses { get; } =
    [
        "StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline", "StableDiffusionControlNetPipeline",
        "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
    ];

    /// <summary>Opens a diffusers pipeline folder as the pipeline class its model_index.json names.</summary>
    public static DiffusionPipeline FromPretrained(string directory, LoadOptions? options = null)
    {
        NativeRuntime.EnsureLoaded();
        var index = ModelIndex.Load(directory);
        return index.ClassName switch
        {
            "StableDiffusionPipeline" => StableDiffusionPipeline.FromPretrained(directory, options),
            "StableDiffusionImg2ImgPipeline" => StableDiffusionImg2ImgPipeline.FromPretrained(directory, options),
            "StableDiffusionInpaintPipeline" => StableDiffusionInpaintPipeline.FromPretrained(directory, options),
            "StableDiffusionControlNetPipeline" => StableDiffusionControlNetPipeline.FromPretrained(directory, options),
            "StableDiffusionXLPipeline" => StableDiffusionXLPipeline.FromPretrained(directory, options),
            "StableDiffusionXLImg2ImgPipeline" => StableDiffusionXLImg2ImgPipeline.FromPretrained(directory, options),
            var other => throw new NotSupportedException(
                $"{directory} holds a {other}, which DiffusersSharp does not support yet. Supported: {string.Join(", ", SupportedClasses)}."),
        };
    }

    protected void Register(string name, object component)
    {
        _components[name] = component;
        _shared.Remove(name);
    }

    /// <summary>Registers a component that another pipeline owns: this one uses and saves it but never disposes it.</summary>
    protected void RegisterShared(string name, object component)
    {
        _components[name] = component;
        _shared.Add(name);
    }

    /// <summary>Swaps in a new component, disposing the old one unless it is shared.</summary>
    private void Replace(string name, object component)
    {
        if (_components.TryGetValue(name, out var old))
        {
            if (ReferenceEquals(old, component)) return;
            if (old is IDisposable disposable && !_shared.Contains(name)) disposable.Dispose();
        }
        Register(name, component);
    }

    /// <summary>diffusers' <c>register_to_config</c>: a pipeline setting written to model_index.json (e.g. SDXL's <c>force_zeros_for_empty_prompt</c>).</summary>
    protected void RegisterToConfig(string key, System.Text.Json.Nodes.JsonNode? value) => _modelIndex[key] = value;

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
        foreach (var (name, component) in _components)
            if (component is IDisposable disposable && !_shared.Contains(name))
                disposable.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Loads a folder's components by their model_index.json entries, disposing what was loaded if one fails.</summary>
    protected internal sealed class ComponentSet
    {
        private readonly Dictionary<string, object> _loaded = new(StringComparer.Ordinal);

        public T Get<T>(string name) => (T)_loaded[name];

        /// <summary>An optional component, null where model_index.json has [null, null] for it or lacks it.</summary>
        public T? GetOptional<T>(string name) where T : class => _loaded.TryGetValue(name, out var c) ? (T)c : null;

        /// <summary>
        /// Loads the named components. Others the folder lists (a safety checker, a feature extractor) are not loaded:
        /// DiffusersSharp has no safety checker, so its images are never blacked out.
        /// </summary>
        /// <param name="optionalNames">Components the pipeline can do without (e.g. the SDXL refiner's text_encoder);
        /// they are loaded when model_index.json names a class for them.</param>
        public static TPipeline LoadAll<TPipeline>(ModelIndex index, LoadOptions? options, IReadOnlyList<string> names, Func<ComponentSet, TPipeline> build,
            IReadOnlyList<string>? optionalNames = null)
        {
            NativeRuntime.EnsureLoaded();
            var components = new ComponentSet();
            try
            {
                foreach (var name in names)
                    components._loaded[name] = LoadComponent(index, name, index.Require(name), options);
                foreach (var name in optionalNames ?? [])
                    if (index.Components.TryGetValue(name, out var spec) && spec.IsPresent)
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
                "CLIPTextModelWithProjection" => CLIPTextModelWithProjection.FromPretrained(folder, options),
                "ControlNetModel" => ControlNetModel.FromPretrained(folder, options),
                "MultiControlNetModel" => MultiControlNetModel.FromPretrained(folder, options),
                "CLIPTokenizer" or "CLIPTokenizerFast" => CLIPTokenizer.FromPretrained(folder),
                _ when spec.Library == "diffusers" && spec.ClassName!.EndsWith("Scheduler") => SchedulerFactory.FromPretrained(folder),
                _ => throw new NotSupportedException($"Component '{name}' in {index.Directory} is a {spec.ClassName} ({spec.Library}), which DiffusersSharp does not support yet."),
            };
        }
    }
}
