using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>GELU</c> projection: a linear layer then GELU (exact, or the tanh approximation).</summary>
public sealed class GELU : DiffusersModule<Tensor, Tensor>
{
    private readonly Linear _proj;
    private readonly TorchSharp.Modules.GELU.Approximate _approximate;

    /// <param name="approximate">"none" or "tanh", as diffusers names them.</param>
    public GELU(long dimIn, long dimOut, string approximate = "none", bool bias = true) : base(nameof(GELU))
    {
        _approximate = approximate switch
        {
            "none" => TorchSharp.Modules.GELU.Approximate.none,
            "tanh" => TorchSharp.Modules.GELU.Approximate.tanh,
            _ => throw new ArgumentException($"Unknown GELU approximation '{approximate}': expected none or tanh.", nameof(approximate)),
        };
        _proj = Layers.Linear(dimIn, dimOut, hasBias: bias);
        register_module("proj", _proj);
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var projected = _proj.forward(hiddenStates);
        return nn.functional.gelu(projected, _approximate);
    }
}
