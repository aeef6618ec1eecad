using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests.Support;

/// <summary>
/// One golden case from tests/fixtures (copied from ../shared/fixtures): its JSON manifest and its tensors.
/// Tensors are read on demand; dispose the case to free them. The tests read the copy next to their assembly
/// (<see cref="Root"/>); the device check passes its own fixtures folder.
/// </summary>
public sealed class FixtureCase : IDisposable
{
    private readonly SafetensorsFile? _file;
    private readonly List<Tensor> _loaded = new();

    private FixtureCase(string rootDirectory, string name, JsonObject manifest, SafetensorsFile? file)
    {
        RootDirectory = rootDirectory;
        Name = name;
        Manifest = manifest;
        _file = file;
    }

    /// <summary>The fixtures folder this case was read from.</summary>
    public string RootDirectory { get; }
    public string Name { get; }
    public JsonObject Manifest { get; }

    /// <summary>Absolute path of tests/fixtures as copied next to the test assembly.</summary>
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "fixtures");

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Loads e.g. <c>components/tiny-sd_unet_scalar_t</c>.</summary>
    public static FixtureCase Load(string relativeName) => Load(Root, relativeName);

    /// <summary>Loads a case from the fixtures folder <paramref name="root"/>.</summary>
    public static FixtureCase Load(string root, string relativeName)
    {
        NativeRuntime.EnsureLoaded();
        var json = Path.Combine(root, relativeName + ".json");
        if (!File.Exists(json)) throw new FileNotFoundException($"No fixture case {relativeName} in {root}.", json);
        var manifest = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
        var tensorFile = Path.Combine(root, relativeName + ".safetensors");
        var file = File.Exists(tensorFile) ? SafetensorsFile.Open(tensorFile) : null;
        return new FixtureCase(root, Path.GetFileName(relativeName), manifest, file);
    }

    /// <summary>Manifest names of the cases in one fixture folder, e.g. all of <c>schedulers</c>.</summary>
    public static IEnumerable<string> List(string folder, string prefix = "") => ListIn(Root, folder, prefix);

    /// <summary><see cref="List"/> in the fixtures folder <paramref name="root"/>.</summary>
    public static IEnumerable<string> ListIn(string root, string folder, string prefix = "") =>
        Directory.GetFiles(Path.Combine(root, folder), prefix + "*.json").Select(f => folder + "/" + Path.GetFileNameWithoutExtension(f)).Order();

    public bool Has(string tensorName) => _file?.Entries.ContainsKey(tensorName) == true;

    public Tensor Tensor(string name)
    {
        if (_file is null) throw new InvalidOperationException($"Fixture {Name} has no tensor file.");
        var t = _file.Read(name);
        _loaded.Add(t);
        return t;
    }

    /// <summary>Absolute path of a model folder or input named in the manifest, e.g. <c>models/tiny-sd</c>.</summary>
    public string ModelPath(string relative) => Path.Combine(RootDirectory, relative);

    public void Dispose()
    {
        foreach (var t in _loaded) t.Dispose();
        _file?.Dispose();
    }
}
