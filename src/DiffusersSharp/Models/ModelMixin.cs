using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// Base of every model (diffusers' <c>ModelMixin</c>, transformers' <c>PreTrainedModel</c>): a module built from a
/// <see cref="ModelConfig"/> whose weights load from and save to a diffusers component folder.
/// </summary>
public abstract class ModelMixin : DiffusersModule
{
    protected ModelMixin(string name, ModelConfig config) : base(name)
    {
        Config = config;
    }

    public ModelConfig Config { get; }

    /// <summary>File name stem of the weights: diffusers' models use <c>diffusion_pytorch_model</c>, transformers' <c>model</c>.</summary>
    public virtual string WeightsName => "diffusion_pytorch_model";

    /// <summary>The config's <c>_class_name</c> as diffusers writes it.</summary>
    public abstract string ClassName { get; }

    /// <summary>Names in a checkpoint that this model does not need and may be skipped (e.g. legacy buffers).</summary>
    protected virtual bool IsIgnorableWeight(string name) => false;

    public ScalarType DType => parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;

    /// <summary>Where the model runs: its weights' device, or under CPU offload the device it moves to when it runs.</summary>
    public Device Device => CpuOffload?.ExecutionDevice ?? parameters().FirstOrDefault()?.device ?? CPU;

    /// <summary>The offload that moves this model to the accelerator only while it runs, or null (see <see cref="ModelCpuOffload"/>).</summary>
    public ModelCpuOffload? CpuOffload { get; internal set; }

    /// <summary>Whether pipelines' attention slicing applies to this model (diffusers' models with <c>set_attention_slice</c>).</summary>
    public virtual bool SupportsAttentionSlicing => false;

    /// <summary>
    /// diffusers' <c>set_attention_slice</c>: every <see cref="Attention"/> layer computes its (batch × head) rows in
    /// slices of <paramref name="sliceSize"/>; null is diffusers' "auto" (half the layer's heads), 1 its "max".
    /// </summary>
    public void EnableAttentionSlicing(int? sliceSize = null)
    {
        foreach (var attention in modules().OfType<Attention>())
            attention.SliceSize = sliceSize ?? Math.Max(1, attention.Heads / 2);
    }

    public void DisableAttentionSlicing()
    {
        foreach (var attention in modules().OfType<Attention>())
            attention.SliceSize = null;
    }

    /// <summary>Call first in every public method that runs the model: under CPU offload, brings it to its device.</summary>
    protected void OnForward() => CpuOffload?.Activate(this);

    /// <summary>
    /// Builds a model from a component folder: reads <c>config.json</c>, builds it with its weights in their final
    /// dtype and device (see <see cref="LoadOptions.LowCpuMemUsage"/>), then loads the weights.
    /// </summary>
    protected static T Load<T>(string directory, LoadOptions? options, Func<ModelConfig, T> build) where T : ModelMixin
    {
        NativeRuntime.EnsureLoaded();
        options ??= LoadOptions.Default;
        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        T model;
        if (options.LowCpuMemUsage)
            model = EmptyWeights.Build(() => build(config), options.DType ?? ScalarType.Float32);
        else
            using (no_grad()) model = build(config);
        try
        {
            model.eval();
            if (options.LowCpuMemUsage)
                EmptyWeights.Materialize(model, options.Device ?? CPU);
            // Converts what was built in full: the whole model without LowCpuMemUsage, layers made outside Layers with it.
            model.MoveTo(options.Device, options.DType);
            WeightsLoader.LoadInto(model, WeightsLoader.FindWeightFiles(directory, model.WeightsName, options.Variant), model.IsIgnorableWeight);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Moves parameters to a device and/or casts floating-point parameters to a dtype.</summary>
    public void MoveTo(Device? device, ScalarType? dtype)
    {
        if (device is not null) this.to(device);
        if (dtype is not null) this.to(dtype.Value);
    }

    /// <summary>Writes <c>config.json</c> (see <see cref="ConfigToSave"/>) and the weights as <c>{WeightsName}[.variant].safetensors</c>.</summary>
    public virtual void SavePretrained(string directory, string? variant = null)
    {
        Directory.CreateDirectory(directory);
        ConfigToSave().Save(Path.Combine(directory, "config.json"));
        var tensors = state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal);
        var suffix = variant is null ? "" : "." + variant;
        SafetensorsFile.Write(Path.Combine(directory, $"{WeightsName}{suffix}.safetensors"), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>The config as <see cref="SavePretrained"/> writes it: diffusers stamps its class name and version.</summary>
    protected virtual ModelConfig ConfigToSave()
    {
        var config = Config.Clone();
        config["_class_name"] = ClassName;
        config.SetDefault("_diffusers_version", "0.38.0");
        return config;
    }
}
