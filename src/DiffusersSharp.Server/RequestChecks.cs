using DiffusersSharp.Serving;
using SixLabors.ImageSharp;

namespace DiffusersSharp.Server;

/// <summary>
/// The HTTP layer's checks before a request is queued: the configured caps (steps, pictures, pixels), the model name,
/// and input pictures, whose size is read from their header before anything is decoded.
/// </summary>
internal sealed class RequestChecks(ServerOptions options, ModelCatalog models)
{
    public void Check(GenerationRequest request)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [message];

        if (request.Model is { } model)
        {
            if (ModelCatalog.NameProblem(model) is { } problem) Add("model", problem);
            else if (models.TryResolve(model) is null) Add("model", $"Unknown model '{model}'; GET /v1/models lists them.");
        }
        if (request.NumInferenceSteps > options.MaxSteps)
            Add("num_inference_steps", $"num_inference_steps must be at most {options.MaxSteps}, got {request.NumInferenceSteps}.");
        if (request.NumImagesPerPrompt > options.MaxImagesPerRequest)
            Add("num_images_per_prompt", $"num_images_per_prompt must be at most {options.MaxImagesPerRequest}, got {request.NumImagesPerPrompt}.");
        if (request is { Width: > 0, Height: > 0 })
        {
            var pixels = (long)request.Width.Value * request.Height.Value * Math.Max(1, request.NumImagesPerPrompt ?? 1);
            if (pixels > options.MaxPixels)
                Add("width", $"width × height × images = {pixels} pixels is over this server's cap of {options.MaxPixels}.");
        }

        var image = Inspect("image", request.Image, Add);
        var mask = Inspect("mask_image", request.MaskImage, Add);
        Inspect("control_image", request.ControlImage, Add);
        if (image is { } i && mask is { } m && (i.Width != m.Width || i.Height != m.Height))
            Add("mask_image", $"mask_image is {m.Width}×{m.Height} but image is {i.Width}×{i.Height}; they must match.");

        if (errors.Count > 0) throw new RequestValidationException(errors);
    }

    /// <summary>Reads the picture's header only (no pixel buffer), refuses what is not a picture or is too large, then decodes it once to catch corrupt data.</summary>
    private (int Width, int Height)? Inspect(string field, byte[]? bytes, Action<string, string> add)
    {
        if (bytes is null) return null;
        IImageInfo? info;
        try
        {
            info = Image.Identify(bytes);
        }
        catch (Exception e) when (e is ImageFormatException or NotSupportedException or InvalidOperationException)
        {
            info = null;
        }
        if (info is null)
        {
            add(field, $"{field} is not a readable PNG or JPEG picture.");
            return null;
        }
        var pixels = (long)info.Width * info.Height;
        if (pixels > options.MaxInputImagePixels)
        {
            add(field, $"{field} is {info.Width}×{info.Height}, over this server's cap of {options.MaxInputImagePixels} pixels.");
            return null;
        }
        try
        {
            Image.Load(bytes).Dispose();
        }
        catch (Exception e) when (e is ImageFormatException or NotSupportedException or InvalidOperationException)
        {
            add(field, $"{field} is a corrupt picture ({e.Message.ReplaceLineEndings(" ")}).");
            return null;
        }
        return (info.Width, info.Height);
    }
}
