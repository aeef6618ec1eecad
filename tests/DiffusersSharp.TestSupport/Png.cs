using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiffusersSharp.Tests.Support;

/// <summary>PNGs for requests (plain, noise, masks, a decompression bomb's header), and reading answered ones.</summary>
public static class Png
{
    public static byte[] Gray(int width, int height, byte value = 128)
    {
        using var image = new Image<Rgb24>(width, height, new Rgb24(value, value, value));
        return Encode(image);
    }

    /// <summary>A picture of random colours.</summary>
    public static byte[] Noise(int width, int height, int seed = 0)
    {
        var random = new Random(seed);
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        return Encode(image);
    }

    /// <summary>A mask: white (repaint) on the left half, black on the right.</summary>
    public static byte[] HalfMask(int width, int height)
    {
        using var image = new Image<L8>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width / 2; x++)
                image[x, y] = new L8(255);
        return Encode(image);
    }

    /// <summary>A PNG signature and IHDR chunk claiming <paramref name="width"/>×<paramref name="height"/> with next to no pixel data: a decompression bomb's header, a few dozen bytes.</summary>
    public static byte[] BombHeader(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        using var stream = new MemoryStream();
        stream.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(stream, "IHDR", ihdr);
        WriteChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00]);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    public static (int Width, int Height) Size(byte[] png)
    {
        var info = Image.Identify(png);
        return (info.Width, info.Height);
    }

    /// <summary>The largest difference of any channel of any pixel between two PNGs of one size.</summary>
    public static int MaxDifference(byte[] a, byte[] b)
    {
        using var x = Image.Load<Rgb24>(a);
        using var y = Image.Load<Rgb24>(b);
        Assert.Equal((x.Width, x.Height), (y.Width, y.Height));
        var max = 0;
        for (var row = 0; row < x.Height; row++)
            for (var col = 0; col < x.Width; col++)
            {
                var (p, q) = (x[col, row], y[col, row]);
                max = Math.Max(max, Math.Max(Math.Abs(p.R - q.R), Math.Max(Math.Abs(p.G - q.G), Math.Abs(p.B - q.B))));
            }
        return max;
    }

    private static byte[] Encode(Image image)
    {
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typed);
        stream.Write(Crc32.Hash(typed).Reverse().ToArray()); // System.IO.Hashing writes little-endian; PNG wants big-endian
    }
}
