using System.Buffers.Binary;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>PNGs for requests, and comparing pictures.</summary>
internal static class Png
{
    /// <summary>A picture of random colours.</summary>
    public static byte[] Noise(int width, int height, int seed = 0)
    {
        var random = new Random(seed);
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>A mask: white (repaint) on the left half, black on the right.</summary>
    public static byte[] HalfMask(int width, int height)
    {
        using var image = new Image<L8>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width / 2; x++)
                image[x, y] = new L8(255);
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>A valid PNG signature and header chunk claiming a huge picture, with no pixel data: a few dozen bytes.</summary>
    public static byte[] HugeHeader(int width, int height)
    {
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // RGB
        using var stream = new MemoryStream();
        stream.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(stream, "IHDR", header);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buffer, data.Length);
        stream.Write(buffer);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        stream.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, Crc32(typed));
        stream.Write(buffer);
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
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
}
