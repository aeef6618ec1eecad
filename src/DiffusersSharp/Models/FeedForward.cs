using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>FeedForward</c>: <c>net</c> = [activation projection, dropout, linear out (, final dropout)], so
/// checkpoint keys read <c>ff.net.0.proj.weight</c> and <c>ff.net.2.weight</c>.
/// </summary>
public sealed class FeedForward : DiffusersModule<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor>[] _net;

    /// <param name="activationFn">gelu, gelu-approximate, geglu or geglu-approximate.</param>
    public FeedForward(long dim, long? dimOut = null, int mult = 4, double dropout = 0.0, string activationFn = "geglu",
        bool finalDropout = false, long? innerDim = null, bool bias = true) : base(nameof(FeedForward))
    {
        var inner = innerDim ?? dim * mult;
        nn.Module<Tensor, Tensor> act = activationFn switch
        {
            "gelu" => new GELU(dim, inner, bias: bias),
            "gelu-approximate" => new GELU(dim, inner, approximate: "tanh", bias: bias),
            "geglu" => new GEGLU(dim, inner, bias: bias),
            "geglu-approximate" => new ApproximateGELU(dim, inner, bias: bias),
            _ => throw new NotSupportedException($"Unsupported feed-forward activation_fn '{activationFn}': DiffusersSharp supports gelu, gelu-approximate, geglu and geglu-approximate."),
        };
        var layers = new List<nn.Module<Tensor, Tensor>> { act, nn.Dropout(dropout), Layers.Linear(inner, dimOut ?? dim, hasBias: bias) };
        if (finalDropout) layers.Add(nn.Dropout(dropout));
        _net = layers.ToArray();
        register_module("net", nn.ModuleList(_net));
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        foreach (var layer in _net) hiddenStates = layer.forward(hiddenStates);
        return hiddenStates.MoveToOuterDisposeScope();
    }
}
