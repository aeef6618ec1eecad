using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Images;

/// <summary>diffusers' <c>VaeImageProcessor</c> config, with its names and defaults.</summary>
public sealed record VaeImageProcessorOptions
{
    /// <summary>Resize inputs to a multiple of <see cref="VaeScaleFactor"/> (rounding down), or to the size asked for.</summary>
    public bool DoResize { get; init; } = true;
    public int VaeScaleFactor { get; init; } = 8;
    /// <summary>A float tensor input with this many channels is taken to be latents and passed through.</summary>
    public int VaeLatentChannels { get; init; } = 4;
    /// <summary>Pillow filter for 8-bit images: "lanczos" or "nearest". Float tensors always resize nearest, as diffusers.</summary>
    public string Resample { get; init; } = "lanczos";
    /// <summary>Map [0, 1] to [-1, 1] on the way in and back on the way out.</summary>
    public bool DoNormalize { get; init; } = true;
    /// <summary>Threshold at 0.5 to 0/1 (masks).</summary>
    public bool DoBinarize { get; init; }
    public bool DoConvertRgb { get; init; }
    public bool DoConvertGrayscale { get; init; }
}

/// <summary>
/// diffusers' <c>VaeImageProcessor</c>: images to VAE inputs (NCHW float in [-1, 1], sized to a multiple of the VAE
/// scale factor) and decoded images back to [B, H, W, C] floats in [0, 1] and to 8-bit pixels.
/// <para>
/// Inputs are either 8-bit images as <see cref="ImageIO"/> loads them (uint8 [H, W, 3] or [H, W], the PIL path, resized
/// with Pillow's exact filter) or float tensors in [0, 1] ([C, H, W] or [B, C, H, W], the torch path, resized
/// nearest like <c>F.interpolate</c>). Pillow's <c>resize_mode</c> "fill"/"crop" and <c>crops_coords</c> are not
/// implemented.
/// </para>
/// </summary>
public sealed class VaeImageProcessor
{
    public VaeImageProcessor(VaeImageProcessorOptions? options = null)
    {
        Options = options ?? new VaeImageProcessorOptions();
        if (Options.DoConvertRgb && Options.DoConvertGrayscale)
            throw new ArgumentException("do_convert_rgb and do_convert_grayscale cannot both be true.", nameof(options));
        if (Options.VaeScaleFactor <= 0)
            throw new ArgumentException($"vae_scale_factor must be positive, got {Options.VaeScaleFactor}.", nameof(options));
        if (Options.Resample is not ("lanczos" or "nearest"))
            throw new NotSupportedException($"Unsupported resample '{Options.Resample}': DiffusersSharp supports lanczos and nearest.");
    }

    public VaeImageProcessorOptions Options { get; }

    /// <summary>The inpainting pipelines' mask processor: grayscale, no normalization, binarized at 0.5.</summary>
    public static VaeImageProcessor ForMasks(int vaeScaleFactor = 8) => new(new VaeImageProcessorOptions
    {
        VaeScaleFactor = vaeScaleFactor,
        DoNormalize = false,
        DoBinarize = true,
        DoConvertGrayscale = true,
    });

    /// <summary>
    /// diffusers' <c>get_default_height_width</c>: the requested size, or the image's, each rounded down to a multiple of
    /// the VAE scale factor.
    /// </summary>
    public (int Height, int Width) GetDefaultHeightWidth(int imageHeight, int imageWidth, int? height = null, int? width = null)
    {
        var h = height ?? imageHeight;
        var w = width ?? imageWidth;
        return (h - h % Options.VaeScaleFactor, w - w % Options.VaeScaleFactor);
    }

    /// <summary>One image (uint8 [H, W, 3] / [H, W], or float [C, H, W] / [B, C, H, W] in [0, 1]) → [B, C, H', W'] float32.</summary>
    public Tensor Preprocess(Tensor image, int? height = null, int? width = null) => Preprocess([image], height, width);

    /// <summary>
    /// diffusers' <c>preprocess</c> on a batch of images of one kind: resized to (<paramref name="height"/>,
    /// <paramref name="width"/>) or the first image's size, rounded down to multiples of the VAE scale factor; then
    /// RGB/grayscale conversion, [0, 1] → [-1, 1] and binarizing as configured.
    /// </summary>
    public Tensor Preprocess(IReadOnlyList<Tensor> images, int? height = null, int? width = null)
    {
        if (images.Count == 0) throw new ArgumentException("No images to preprocess.", nameof(images));
        using var scope = NewDisposeScope();
        Tensor batch;
        if (images[0].dtype == ScalarType.Byte)
        {
            batch = PreprocessPil(images, height, width);
        }
        else
        {
            batch = images[0].ndim == 4 ? cat(images.ToArray(), 0) : stack(images.ToArray(), 0);
            if (Options.DoConvertGrayscale && batch.ndim == 3) batch = batch.unsqueeze(1);
            if (batch.ndim != 4)
                throw new ArgumentException($"Expected float images shaped [C, H, W] or [B, C, H, W]; got [{string.Join(", ", images[0].shape)}].", nameof(images));
            // Latents pass through untouched, as diffusers does.
            if (batch.shape[1] == Options.VaeLatentChannels) return batch.MoveToOuterDisposeScope();
            var (h, w) = GetDefaultHeightWidth((int)batch.shape[2], (int)batch.shape[3], height, width);
            if (Options.DoResize)
                batch = nn.functional.interpolate(batch, size: [h, w], mode: InterpolationMode.Nearest);
        }

        // diffusers skips normalizing (with a deprecation warning) an input that is already in [-1, 1].
        if (Options.DoNormalize && batch.min().item<float>() >= 0)
            batch = Normalize(batch);
        if (Options.DoBinarize)
            batch = batch.masked_fill(batch < 0.5, 0).masked_fill(batch >= 0.5, 1);
        return batch.MoveToOuterDisposeScope();
    }

    private Tensor PreprocessPil(IReadOnlyList<Tensor> images, int? height, int? width)
    {
        var pils = images.Select(ImageIO.FromTensor).ToList();
        if (Options.DoResize)
        {
            var (h, w) = GetDefaultHeightWidth(pils[0].Height, pils[0].Width, height, width);
            pils = pils.Select(p => p.Resize(w, h, Options.Resample)).ToList();
        }
        if (Options.DoConvertRgb) pils = pils.Select(p => p.ToRgb()).ToList();
        else if (Options.DoConvertGrayscale) pils = pils.Select(p => p.ToGray()).ToList();
        if (pils.Any(p => p.Height != pils[0].Height || p.Width != pils[0].Width || p.Channels != pils[0].Channels))
            throw new ArgumentException("Images of one batch must have the same size and channel count after resizing.", nameof(images));

        // pil_to_numpy (uint8 → float32 / 255) then numpy_to_pt (NHWC → NCHW; a grayscale image gains its channel axis).
        var tensors = pils.Select(p => ImageIO.ToTensor(p)).Select(t => t.ndim == 2 ? t.unsqueeze(-1) : t).ToArray();
        return (stack(tensors, 0).to(ScalarType.Float32) / 255.0f).permute(0, 3, 1, 2).contiguous();
    }

    /// <summary>
    /// diffusers' <c>postprocess(output_type="np")</c>: [B, C, H, W] decoded images → [B, H, W, C] float32 on the CPU,
    /// mapped from [-1, 1] to [0, 1] and clamped when the config normalizes (or per image by <paramref name="doDenormalize"/>).
    /// </summary>
    public Tensor Postprocess(Tensor image, IReadOnlyList<bool>? doDenormalize = null)
    {
        using var scope = NewDisposeScope();
        return PostprocessToTensor(image, doDenormalize).cpu().permute(0, 2, 3, 1).to(ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' <c>postprocess(output_type="pt")</c>: denormalized [B, C, H, W], same device and dtype.</summary>
    public Tensor PostprocessToTensor(Tensor image, IReadOnlyList<bool>? doDenormalize = null)
    {
        if (image.ndim != 4) throw new ArgumentException($"Expected [B, C, H, W] images, got [{string.Join(", ", image.shape)}].", nameof(image));
        if (doDenormalize is null) return Options.DoNormalize ? Denormalize(image) : image.alias();
        if (doDenormalize.Count != image.shape[0])
            throw new ArgumentException($"doDenormalize has {doDenormalize.Count} entries for {image.shape[0]} images.", nameof(doDenormalize));
        using var scope = NewDisposeScope();
        var items = Enumerable.Range(0, doDenormalize.Count).Select(i => doDenormalize[i] ? Denormalize(image[i]) : image[i]).ToArray();
        return stack(items, 0).MoveToOuterDisposeScope();
    }

    /// <summary>[0, 1] → [-1, 1]: <c>2 · x − 1</c>.</summary>
    public static Tensor Normalize(Tensor images) => images * 2.0 - 1.0;

    /// <summary>[-1, 1] → [0, 1], clamped: <c>(x · 0.5 + 0.5).clamp(0, 1)</c>.</summary>
    public static Tensor Denormalize(Tensor images)
    {
        using var scope = NewDisposeScope();
        return (images * 0.5 + 0.5).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// diffusers' <c>numpy_to_pil</c> pixel values: <c>(images * 255).round().astype("uint8")</c> in float32, rounding
    /// halves to even as numpy does. Takes [0, 1] floats of any shape (e.g. [B, H, W, C]) and returns uint8 of that shape.
    /// </summary>
    public static Tensor ToUint8(Tensor images)
    {
        using var scope = NewDisposeScope();
        // torch.round, like numpy's, rounds half to even; values are clamped first only to keep the cast defined.
        return (images.to(ScalarType.Float32) * 255).round().clamp(0, 255).to(ScalarType.Byte).MoveToOuterDisposeScope();
    }
}
