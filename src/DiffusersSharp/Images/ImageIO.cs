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

    /// <summary>Decodes an encoded image (PNG, JPEG, ...) as RGB, like <see cref="LoadRgb"/>: a [H, W, 3] uint8 tensor.</summary>
    public static Tensor DecodeRgb(ReadOnlySpan<byte> encoded) => ToTensor(DecodePil(encoded));

    /// <summary>Decodes an encoded image as Pillow's mode "L", like <see cref="LoadGray"/>: a [H, W] uint8 tensor.</summary>
    public static Tensor DecodeGray(ReadOnlySpan<byte> encoded) => ToTensor(DecodePil(encoded).ToGray());

    /// <summary>Writes a [H, W, 3] (RGB) or [H, W] / [H, W, 1] (grayscale) uint8 tensor as an 8-bit PNG.</summary>
    public static void SavePng(Tensor image, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var file = File.Create(path);
        WritePng(image, file);
    }

    /// <summary>The bytes of <see cref="SavePng"/>'s file.</summary>
    public static byte[] EncodePng(Tensor image)
    {
        using var stream = new MemoryStream();
        WritePng(image, stream);
        return stream.ToArray();
    }

    private static void WritePng(Tensor image, Stream stream)
    {
        var pil = FromTensor(image);
        if (pil.Channels == 3)
        {
            using var rgb = Image.LoadPixelData<Rgb24>(pil.Pixels, pil.Width, pil.Height);
            rgb.SaveAsPng(stream);
        }
        else
        {
            using var gray = Image.LoadPixelData<L8>(pil.Pixels, pil.Width, pil.Height);
            gray.SaveAsPng(stream);
        }
    }

    internal static PilImage LoadPil(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Image file not found: {path}", path);
        return DecodePil(File.ReadAllBytes(path), path);
    }

    /// <param name="source">What the bytes are, for the error message: a file's path, or "the data".</param>
    private static PilImage DecodePil(ReadOnlySpan<byte> encoded, string source = "the data")
    {
        Image<Rgb24> image;
        try
        {
            image = Image.Load<Rgb24>(encoded);
        }
        catch (Exception e) when (e is UnknownImageFormatException or InvalidImageContentException)
        {
            throw new InvalidDataException($"Cannot read {source} as an image: {e.Message}", e);
        }
        return ToPil(image);
    }

    private static PilImage ToPil(Image<Rgb24> image)
    {
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
