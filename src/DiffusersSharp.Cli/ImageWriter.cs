using DiffusersSharp.Images;
using static TorchSharp.torch;

namespace DiffusersSharp.Cli;

/// <summary>Writes a batch of [B,H,W,3] images in [0,1] as PNGs named after <c>--output</c>.</summary>
internal static class ImageWriter
{
    public static IReadOnlyList<string> WriteAll(Tensor images, string outputPath)
    {
        var count = (int)images.shape[0];
        var paths = new List<string>(count);
        var dir = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        Directory.CreateDirectory(dir);
        using var bytes = VaeImageProcessor.ToUint8(images);
        for (var i = 0; i < count; i++)
        {
            var path = count == 1 ? outputPath : Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(outputPath)}-{i}.png");
            using var image = bytes[i];
            ImageIO.SavePng(image, path);
            paths.Add(path);
        }
        return paths;
    }
}
