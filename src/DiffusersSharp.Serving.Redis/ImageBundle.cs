using System.Buffers.Binary;

namespace DiffusersSharp.Serving.Redis;

/// <summary>Several PNGs in one Redis value (a cache entry): a count, then each length and its bytes, little-endian.</summary>
internal static class ImageBundle
{
    public static byte[] Pack(IReadOnlyList<byte[]> images)
    {
        var buffer = new byte[4 + images.Sum(i => 4 + i.Length)];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, images.Count);
        var at = 4;
        foreach (var image in images)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(at), image.Length);
            image.CopyTo(buffer, at + 4);
            at += 4 + image.Length;
        }
        return buffer;
    }

    public static IReadOnlyList<byte[]> Unpack(ReadOnlySpan<byte> bundle)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(bundle);
        var images = new List<byte[]>(count);
        var at = 4;
        for (var i = 0; i < count; i++)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(bundle[at..]);
            images.Add(bundle.Slice(at + 4, length).ToArray());
            at += 4 + length;
        }
        return images;
    }
}
