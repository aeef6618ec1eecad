using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>GEGLU</c>: one linear layer to twice the width, split into a value and a GELU gate.</summary>
public sealed class GEGLU : DiffusersModule<Tensor, Tensor>
{
    private readonly Linear _proj;

    public GEGLU(long dimIn, long dimOut, bool bias = true) : base(nameof(GEGLU))
    {
        _proj = Layers.Linear(dimIn, dimOut * 2, hasBias: bias);
        register_module("proj", _proj);
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var chunks = _proj.forward(hiddenStates).chunk(2, dim: -1);
        return (chunks[0] * nn.functional.gelu(chunks[1])).MoveToOuterDisposeScope();
    }
}
