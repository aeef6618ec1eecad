using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Small pictures for requests, and reading the size of answered ones.</summary>
internal static class Png
{
    public static byte[] Gray(int width, int height, byte value = 128)
    {
        using var image = new Image<Rgb24>(width, height, new Rgb24(value, value, value));
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    public static (int Width, int Height) Size(byte[] png)
    {
        using var image = Image.Load(png);
        return (image.Width, image.Height);
    }

    /// <summary>A PNG signature and IHDR chunk claiming <paramref name="width"/>×<paramref name="height"/>, with no pixel data: a decompression bomb's header.</summary>
    public static byte[] BombHeader(int width, int height)
    {
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        using var stream = new MemoryStream();
        stream.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(stream, "IHDR", ihdr);
        WriteChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00]);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        var header = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, header.AsSpan(4));
        stream.Write(header);
        stream.Write(data);
        var crcInput = header.AsSpan(4).ToArray().Concat(data).ToArray();
        var crc = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(crcInput));
        stream.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
