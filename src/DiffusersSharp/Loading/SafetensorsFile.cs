using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Loading;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End);

/// <summary>
/// Reads and writes the safetensors format (8-byte little-endian header length, JSON header, raw little-endian
/// data). Each tensor is read straight into its destination with positional reads, so loading a model never holds
/// a second copy of its weights: not even as mapped file pages, which (unlike the page cache that reads go
/// through) would count in the process's resident size while the file is open. Written by hand because TorchSharp.PyBridge's reader materialises
/// the whole state dict (plus a managed byte[] per tensor) before copying it into the module, and keeps its
/// tensor-level reader internal.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path)
    {
        Path = path;
        var length = new FileInfo(path).Length;
        if (length < 8) throw new InvalidDataException($"Not a safetensors file (too short): {path}");
        _file = File.OpenHandle(path);
        try
        {
            var lengthBytes = new byte[8];
            ReadExactly(0, lengthBytes);
            var headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
            if (headerLength <= 0 || 8 + headerLength > length)
                throw new InvalidDataException($"Not a safetensors file (bad header length {headerLength}): {path}");
            var header = new byte[headerLength];
            ReadExactly(8, header);
            _dataStart = 8 + headerLength;
            (Entries, Metadata) = ParseHeader(header, path, length);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    private (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(byte[] header, string path, long length)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(Encoding.UTF8.GetString(header)) as JsonObject
                   ?? throw new InvalidDataException($"Safetensors header is not a JSON object: {path}");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Malformed safetensors header in {path}: {e.Message}", e);
        }
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in json)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta) metadata[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            var dtype = ParseDType(node!["dtype"]!.GetValue<string>(), path, name);
            var shape = node["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            var offsets = node["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || _dataStart + offsets[1] > length)
                throw new InvalidDataException($"Tensor '{name}' in {path} has data offsets outside the file.");
            entries[name] = new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
        }
        return (entries, metadata);
    }

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Weights file not found: {path}", path);
        return new SafetensorsFile(path);
    }

    /// <summary>Reads one tensor into a new CPU tensor of the file's dtype.</summary>
    public Tensor Read(string name)
    {
        var entry = GetEntry(name);
        var tensor = empty(entry.Shape, entry.DType, CPU);
        CopyBytesInto(entry, tensor);
        return tensor;
    }

    /// <summary>All tensors of the file, in header order.</summary>
    public Dictionary<string, Tensor> ReadAll() => Entries.Keys.ToDictionary(k => k, Read);

    /// <summary>
    /// Copies one tensor into <paramref name="destination"/> (same shape), converting dtype and moving to the
    /// destination's device as needed. Same dtype on CPU writes the bytes in place with no temporary.
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        var entry = GetEntry(name);
        if (destination.device_type == DeviceType.CPU && destination.dtype == entry.DType && destination.is_contiguous())
        {
            CopyBytesInto(entry, destination);
            return;
        }
        using var tmp = Read(name);
        using (no_grad()) destination.copy_(tmp);
    }

    public SafetensorsEntry GetEntry(string name) =>
        Entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"Tensor '{name}' is not in {Path}.");

    private void CopyBytesInto(SafetensorsEntry entry, Tensor destination)
    {
        var byteCount = entry.End - entry.Begin;
        var expected = destination.NumberOfElements * destination.ElementSize;
        if (byteCount != expected)
            throw new InvalidDataException($"Tensor '{entry.Name}' in {Path} holds {byteCount} bytes; its shape and dtype need {expected}.");
        if (byteCount == 0) return;
        // Tensor.bytes is a span over the tensor's own CPU storage.
        ReadExactly(_dataStart + entry.Begin, destination.bytes);
    }

    private void ReadExactly(long offset, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var read = RandomAccess.Read(_file, buffer, offset);
            if (read == 0) throw new EndOfStreamException($"{Path} ended before the data its header describes.");
            buffer = buffer[read..];
            offset += read;
        }
    }

    /// <summary>Writes tensors in the given order, with optional string metadata, as safetensors does.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, t) in list)
        {
            var n = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = FormatDType(t.dtype, name),
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + n),
            };
            offset += n;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The format pads the header with spaces to an 8-byte boundary so that data is aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.Write(BitConverter.GetBytes((long)padded));
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var (_, t) in list)
        {
            using var scope = NewDisposeScope();
            stream.Write(t.detach().cpu().contiguous().bytes);
        }
    }

    private static ScalarType ParseDType(string s, string path, string name) => s switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new NotSupportedException($"Tensor '{name}' in {path} has dtype {s}, which DiffusersSharp cannot read."),
    };

    private static string FormatDType(ScalarType t, string name) => t switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"Tensor '{name}' has dtype {t}, which safetensors cannot store."),
    };

    public void Dispose() => _file.Dispose();
}
