using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using static TorchSharp.torch;

namespace DiffusersSharp.Bench;

/// <summary>
/// Writes a full-size Stable Diffusion 1.5 folder with random weights: each model is built from its config with
/// TorchSharp's default initialisation, cast to float16 and saved with <c>SavePretrained</c>, next to the
/// scheduler config, model_index.json and the CLIP tokenizer files.
/// </summary>
internal static class RandomModelFolder
{
    private const string CompleteMarker = ".complete";

    public static bool Exists(BenchPaths paths) => File.Exists(Path.Combine(paths.ModelDirectory, CompleteMarker));

    public static void Create(BenchPaths paths)
    {
        var target = paths.ModelDirectory;
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Save("unet", config => new UNet2DConditionModel(config));
        Save("vae", config => new AutoencoderKL(config));
        Save("text_encoder", config => new CLIPTextModel(config));
        Directory.CreateDirectory(Path.Combine(target, "scheduler"));
        File.Copy(Path.Combine(paths.ConfigDirectory, "scheduler", "scheduler_config.json"), Path.Combine(target, "scheduler", "scheduler_config.json"));
        File.Copy(Path.Combine(paths.ConfigDirectory, "model_index.json"), Path.Combine(target, "model_index.json"));
        Directory.CreateDirectory(Path.Combine(target, "tokenizer"));
        foreach (var file in Directory.GetFiles(paths.TokenizerDirectory))
            File.Copy(file, Path.Combine(target, "tokenizer", Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(target, CompleteMarker), DateTime.UtcNow.ToString("O"));

        void Save(string component, Func<ModelConfig, ModelMixin> build)
        {
            using var noGrad = no_grad();
            using var model = build(ModelConfig.Load(Path.Combine(paths.ConfigDirectory, component, "config.json")));
            model.MoveTo(null, ScalarType.Float16);
            model.SavePretrained(Path.Combine(target, component));
        }
    }

    /// <summary>Bytes of the saved weights: the 16-bit weights' size.</summary>
    public static long WeightBytes(BenchPaths paths) =>
        Directory.GetFiles(paths.ModelDirectory, "*.safetensors", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
}
