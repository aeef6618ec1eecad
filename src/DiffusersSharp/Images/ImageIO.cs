using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Images;

/// <summary>
/// Image files ↔ uint8 tensors laid out as <c>np.array(pil_image)</c>: [H, W, 3] for RGB, [H, W] for grayscale.
/// Loading follows diffusers' <c>load_image</c>: EXIF orientation applied, then Pillow's <c>convert("RGB")</c> (alpha
/// dropped, gray replicated) or <c>convert("L")</c>. PNG, JPEG, BMP, GIF, TGA, TIFF and WebP are read.
/// </summary>
public static class ImageIO
{
    /// <summary>Loads an image as RGB: a [H, W, 3] uint8 tensor.</summary>
    public static Tensor LoadRgb(string path) => ToTensor(LoadPil(path));

    /// <summary>Loads an image as Pillow's mode "L" (how masks are read): a [H, W] uint8 tensor.</summary>
    public static Tensor LoadGray(string path) => ToTensor(LoadPil(path).ToGray());

    /// <summary>Writes a [H, W, 3] (RGB) or [H, W] / [H, W, 1] (grayscale) uint8 tensor as an 8-bit PNG.</summary>
    public static void SavePng(Tensor image, string path)
    {
        var pil = FromTensor(image);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (pil.Channels == 3)
        {
            using var rgb = Image.LoadPixelData<Rgb24>(pil.Pixels, pil.Width, pil.Height);
            rgb.SaveAsPng(path);
        }
        else
        {
            using var gray = Image.LoadPixelData<L8>(pil.Pixels, pil.Width, pil.Height);
            gray.SaveAsPng(path);
        }
    }

    internal static PilImage LoadPil(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Image file not found: {path}", path);
        Image<Rgb24> image;
        try
        {
            image = Image.Load<Rgb24>(path);
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException)
        {
            throw new InvalidDataException($"Cannot read {path} as an image: {e.Message}", e);
        }
        using (image)
        {
            image.Mutate(x => x.AutoOrient());
            var pixels = new byte[image.Width * image.Height * 3];
            image.CopyPixelDataTo(pixels);
            return new PilImage(image.Height, image.Width, 3, pixels);
        }
    }

    internal static Tensor ToTensor(PilImage image) =>
        image.Channels == 3
            ? tensor(image.Pixels, [image.Height, image.Width, 3], ScalarType.Byte)
            : tensor(image.Pixels, [image.Height, image.Width], ScalarType.Byte);

    /// <summary>Reads a [H, W, 3], [H, W, 1] or [H, W] uint8 tensor into a Pillow-layout image.</summary>
    internal static PilImage FromTensor(Tensor image)
    {
        if (image.dtype != ScalarType.Byte)
            throw new ArgumentException($"Expected a uint8 image tensor, got {image.dtype}; convert floats with VaeImageProcessor.ToUint8.", nameof(image));
        var shape = image.shape;
        var channels = shape.Length switch
        {
            2 => 1,
            3 when shape[2] is 1 or 3 => (int)shape[2],
            _ => throw new ArgumentException($"Expected an image tensor shaped [H, W, 3], [H, W, 1] or [H, W]; got [{string.Join(", ", shape)}].", nameof(image)),
        };
        using var cpu = image.detach().cpu().contiguous();
        return new PilImage((int)shape[0], (int)shape[1], channels, cpu.bytes.ToArray());
    }
}
