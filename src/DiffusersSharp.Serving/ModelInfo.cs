using DiffusersSharp.Loading;

namespace DiffusersSharp.Serving;

/// <summary>A model folder as read from its configs, without loading any weights: enough to validate requests for it.</summary>
public sealed record ModelInfo
{
    /// <summary>The folder's name inside the models folder, as requests give it.</summary>
    public required string Name { get; init; }
    public required string Directory { get; init; }
    public required ModelKind Kind { get; init; }
    /// <summary>The model_index.json (or config.json) class.</summary>
    public required string ClassName { get; init; }
    public int VaeScaleFactor { get; init; } = 8;
    public int LatentChannels { get; init; } = 4;
    /// <summary>The UNet's (or ControlNet's) input channels; 9 for an inpainting UNet.</summary>
    public int InChannels { get; init; } = 4;
    /// <summary>The UNet's sample_size (latent pixels); the default output is this × <see cref="VaeScaleFactor"/>.</summary>
    public (int Height, int Width)? SampleSize { get; init; }
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [];
    public int CrossAttentionDim { get; init; }
    /// <summary>The text encoder's hidden layers (the fewer of SDXL's two), which bound clip_skip.</summary>
    public int TextEncoderLayers { get; init; }
    /// <summary>The model's own scheduler class.</summary>
    public string SchedulerClassName { get; init; } = "";
    /// <summary>The model's own scheduler config as the scheduler resolved it (defaults included); a copy is made for every use.</summary>
    internal ModelConfig SchedulerConfig { get; init; } = new();

    /// <summary>An inpainting UNet (mask and masked image as extra channels), which runs inpainting only.</summary>
    public bool IsInpaintingModel => Kind == ModelKind.StableDiffusion && InChannels != LatentChannels;

    /// <summary>The tasks requests may ask of this model.</summary>
    public IReadOnlyList<PipelineTask> Tasks => Kind switch
    {
        ModelKind.StableDiffusion when IsInpaintingModel => [PipelineTask.Inpainting],
        ModelKind.StableDiffusion => [PipelineTask.TextToImage, PipelineTask.ImageToImage, PipelineTask.Inpainting, PipelineTask.ControlNet],
        ModelKind.StableDiffusionXL => [PipelineTask.TextToImage],
        _ => [],
    };
}
