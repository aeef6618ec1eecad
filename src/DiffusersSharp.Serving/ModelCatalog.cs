using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Serving;

/// <summary>
/// The models a service may run: the subfolders of one folder, named by requests. A name is one folder name, never a
/// path, so a request cannot reach outside the folder. Configs are read once per folder.
/// </summary>
public sealed partial class ModelCatalog
{
    private static readonly string[] StableDiffusionClasses = ["StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"];
    private static readonly string[] StableDiffusionXLClasses = ["StableDiffusionXLPipeline"];

    private readonly ConcurrentDictionary<string, Lazy<ModelInfo>> _models = new(StringComparer.Ordinal);

    public ModelCatalog(string modelsDirectory)
    {
        if (!System.IO.Directory.Exists(modelsDirectory))
            throw new DirectoryNotFoundException($"The models folder {modelsDirectory} does not exist.");
        Directory = Path.GetFullPath(modelsDirectory);
    }

    public string Directory { get; }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeName();

    /// <summary>The names of the folders that hold a model this service can run.</summary>
    public IReadOnlyList<string> Names() =>
        System.IO.Directory.EnumerateDirectories(Directory)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => SafeName().IsMatch(n) && (File.Exists(Path.Combine(Directory, n, "model_index.json")) || File.Exists(Path.Combine(Directory, n, "config.json"))))
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>
    /// The model a request names, or a <see cref="RequestValidationException"/> for <paramref name="field"/> when the
    /// name is not one folder of the models folder or the folder holds nothing this service runs.
    /// </summary>
    public ModelInfo Resolve(string name, string field)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new RequestValidationException(field, "must name a model folder.");
        if (name.Contains("..", StringComparison.Ordinal) || name.IndexOfAny(['/', '\\']) >= 0 || Path.IsPathRooted(name) || !SafeName().IsMatch(name))
            throw new RequestValidationException(field,
                $"'{Shorten(name)}' is not a model name: give the name of a folder in the models folder (letters, digits, '.', '_', '-'; no paths).");
        var directory = Path.Combine(Directory, name);
        if (!System.IO.Directory.Exists(directory))
            throw new RequestValidationException(field, $"unknown model '{name}'. Available: {string.Join(", ", Names())}.");
        var info = _models.GetOrAdd(name, n => new Lazy<ModelInfo>(() => Read(n, directory)));
        try
        {
            return info.Value;
        }
        catch (Exception e)
        {
            // Not remembered: the folder may be fixed while the service runs.
            _models.TryRemove(name, out _);
            throw new RequestValidationException(field, e is NotSupportedException ? e.Message : $"model '{name}' cannot be read: {e.Message}");
        }
    }

    private static (int Height, int Width)? ReadSampleSize(ModelConfig unet) =>
        unet["sample_size"] switch
        {
            null => null,
            System.Text.Json.Nodes.JsonArray => unet.GetIntArray("sample_size") is [var h, var w] ? (h, w) : null,
            _ => (unet.GetInt("sample_size", 0), unet.GetInt("sample_size", 0)),
        };

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";

    private static ModelInfo Read(string name, string directory)
    {
        var indexPath = Path.Combine(directory, "model_index.json");
        if (!File.Exists(indexPath))
        {
            var configPath = Path.Combine(directory, "config.json");
            var config = File.Exists(configPath) ? ModelConfig.Load(configPath) : null;
            if (config?.ClassName != "ControlNetModel")
                throw new NotSupportedException($"'{name}' holds no diffusers pipeline (model_index.json) or ControlNetModel.");
            return new ModelInfo
            {
                Name = name, Directory = directory, Kind = ModelKind.ControlNet, ClassName = "ControlNetModel",
                InChannels = config.GetInt("in_channels", 4),
                BlockOutChannels = config.GetIntArray("block_out_channels") ?? [320, 640, 1280, 1280],
                CrossAttentionDim = config.GetInt("cross_attention_dim", 1280),
            };
        }
        var index = ModelIndex.Load(directory);
        var kind = StableDiffusionClasses.Contains(index.ClassName) ? ModelKind.StableDiffusion
            : StableDiffusionXLClasses.Contains(index.ClassName) ? ModelKind.StableDiffusionXL
            : throw new NotSupportedException(
                $"'{name}' holds a {index.ClassName}; the service runs {string.Join(", ", StableDiffusionClasses.Concat(StableDiffusionXLClasses))}.");
        var unet = ModelConfig.Load(Path.Combine(directory, "unet", "config.json"));
        var vae = ModelConfig.Load(Path.Combine(directory, "vae", "config.json"));
        int Layers(string component) =>
            File.Exists(Path.Combine(directory, component, "config.json"))
                ? ModelConfig.Load(Path.Combine(directory, component, "config.json")).GetInt("num_hidden_layers", 12)
                : int.MaxValue;
        var layers = Math.Min(Layers("text_encoder"), Layers("text_encoder_2"));
        NativeRuntime.EnsureLoaded();
        using var scheduler = SchedulerFactory.FromPretrained(Path.Combine(directory, "scheduler"));
        var blockOut = unet.GetIntArray("block_out_channels") ?? [320, 640, 1280, 1280];
        return new ModelInfo
        {
            Name = name, Directory = directory, Kind = kind, ClassName = index.ClassName,
            VaeScaleFactor = 1 << ((vae.GetIntArray("block_out_channels")?.Length ?? 4) - 1),
            LatentChannels = vae.GetInt("latent_channels", 4),
            InChannels = unet.GetInt("in_channels", 4),
            SampleSize = ReadSampleSize(unet),
            BlockOutChannels = blockOut,
            CrossAttentionDim = unet.GetIntList("cross_attention_dim", blockOut.Length, 1280)[0],
            TextEncoderLayers = layers == int.MaxValue ? 12 : layers,
            SchedulerClassName = scheduler.ClassName,
            SchedulerConfig = scheduler.Config.Clone(),
        };
    }
}
