using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests.Support;

/// <summary>
/// One golden case from tests/fixtures (copied from ../shared/fixtures): its JSON manifest and its tensors.
/// Tensors are read on demand; dispose the case to free them.
/// </summary>
public sealed class FixtureCase : IDisposable
{
    private readonly SafetensorsFile? _file;
    private readonly List<Tensor> _loaded = new();

    private FixtureCase(string name, JsonObject manifest, SafetensorsFile? file)
    {
        Name = name;
        Manifest = manifest;
        _file = file;
    }

    public string Name { get; }
    public JsonObject Manifest { get; }

    /// <summary>Absolute path of tests/fixtures as copied next to the test assembly.</summary>
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "fixtures");

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Loads e.g. <c>components/tiny-sd_unet_scalar_t</c>.</summary>
    public static FixtureCase Load(string relativeName)
    {
        NativeRuntime.EnsureLoaded();
        var json = PathOf(relativeName + ".json");
        var manifest = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
        var tensorFile = PathOf(relativeName + ".safetensors");
        var file = File.Exists(tensorFile) ? SafetensorsFile.Open(tensorFile) : null;
        return new FixtureCase(Path.GetFileName(relativeName), manifest, file);
    }

    /// <summary>Manifest names of the cases in one fixture folder, e.g. all of <c>schedulers</c>.</summary>
    public static IEnumerable<string> List(string folder, string prefix = "") =>
        Directory.GetFiles(PathOf(folder), prefix + "*.json").Select(f => folder + "/" + Path.GetFileNameWithoutExtension(f)).Order();

    public bool Has(string tensorName) => _file?.Entries.ContainsKey(tensorName) == true;

    public Tensor Tensor(string name)
    {
        if (_file is null) throw new InvalidOperationException($"Fixture {Name} has no tensor file.");
        var t = _file.Read(name);
        _loaded.Add(t);
        return t;
    }

    /// <summary>Absolute path of a model folder named in the manifest, e.g. <c>models/tiny-sd</c>.</summary>
    public string ModelPath(string relative) => PathOf(relative);

    public void Dispose()
    {
        foreach (var t in _loaded) t.Dispose();
        _file?.Dispose();
    }
}
