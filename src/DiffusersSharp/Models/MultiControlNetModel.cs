using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>MultiControlNetModel</c>: several ControlNets conditioning one UNet, each on its own control image and
/// scale; their residuals are summed (Zhang et al., 2023, "multiple conditions"). It has no config or weights of its
/// own: on disk it is the folders <c>DIR</c>, <c>DIR_1</c>, <c>DIR_2</c>, … one per net, as diffusers saves it.
/// </summary>
public sealed class MultiControlNetModel : ModelMixin
{
    private readonly ControlNetModel[] _nets;

    /// <summary>Takes ownership of <paramref name="nets"/> (at least one).</summary>
    public MultiControlNetModel(IReadOnlyList<ControlNetModel> nets) : base(nameof(MultiControlNetModel), new ModelConfig())
    {
        if (nets.Count == 0) throw new ArgumentException("A MultiControlNetModel needs at least one ControlNet.", nameof(nets));
        _nets = nets.ToArray();
        register_module("nets", nn.ModuleList(_nets));
    }

    public override string ClassName => "MultiControlNetModel";

    public IReadOnlyList<ControlNetModel> Nets => _nets;

    /// <summary>Loads <paramref name="directory"/>, then <c>directory_1</c>, <c>directory_2</c>, … while they exist.</summary>
    public static MultiControlNetModel FromPretrained(string directory, LoadOptions? options = null)
    {
        NativeRuntime.EnsureLoaded();
        var nets = new List<ControlNetModel>();
        try
        {
            for (var path = directory; Directory.Exists(path); path = $"{directory}_{nets.Count}")
                nets.Add(ControlNetModel.FromPretrained(path, options));
            if (nets.Count == 0) throw new DirectoryNotFoundException($"No ControlNet folder found at {directory}.");
            return new MultiControlNetModel(nets);
        }
        catch
        {
            foreach (var net in nets) net.Dispose();
            throw;
        }
    }

    /// <summary>Writes each net to <c>directory</c>, <c>directory_1</c>, … (what <see cref="FromPretrained"/> reads back).</summary>
    public override void SavePretrained(string directory, string? variant = null)
    {
        for (var i = 0; i < _nets.Length; i++)
            _nets[i].SavePretrained(i == 0 ? directory : $"{directory}_{i}", variant);
    }

    /// <summary>Runs every net on its own control image and scale and sums their residuals, net by net in order.</summary>
    /// <param name="controlNetConds">One control image batch per net.</param>
    /// <param name="conditioningScales">One scale per net.</param>
    public ControlNetOutput Forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, IReadOnlyList<Tensor> controlNetConds,
        IReadOnlyList<double> conditioningScales, bool guessMode = false)
    {
        if (controlNetConds.Count != _nets.Length || conditioningScales.Count != _nets.Length)
            throw new ArgumentException($"{_nets.Length} ControlNets need {_nets.Length} control images and scales; got {controlNetConds.Count} and {conditioningScales.Count}.");
        var sum = _nets[0].Forward(sample, timestep, encoderHiddenStates, controlNetConds[0], conditioningScales[0], guessMode);
        for (var i = 1; i < _nets.Length; i++)
        {
            using var next = _nets[i].Forward(sample, timestep, encoderHiddenStates, controlNetConds[i], conditioningScales[i], guessMode);
            var previous = sum;
            sum = new ControlNetOutput(previous.DownBlockResSamples.Zip(next.DownBlockResSamples, (a, b) => a + b).ToArray(),
                previous.MidBlockResSample + next.MidBlockResSample);
            previous.Dispose();
        }
        return sum;
    }
}
