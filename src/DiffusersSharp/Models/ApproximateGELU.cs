using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>ApproximateGELU</c> (the "geglu-approximate" feed-forward): x·sigmoid(1.702·x) after a linear layer.</summary>
public sealed class ApproximateGELU : DiffusersModule<Tensor, Tensor>
{
    private readonly Linear _proj;

    public ApproximateGELU(long dimIn, long dimOut, bool bias = true) : base(nameof(ApproximateGELU))
    {
        _proj = Layers.Linear(dimIn, dimOut, hasBias: bias);
        register_module("proj", _proj);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = _proj.forward(x);
        return (x * (1.702 * x).sigmoid()).MoveToOuterDisposeScope();
    }
}
