using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>transformers' <c>CLIPMLP</c>: fc1, activation (quick_gelu or exact gelu), fc2.</summary>
internal sealed class CLIPMLP : DiffusersModule
{
    private readonly Linear _fc1;
    private readonly Linear _fc2;
    private readonly bool _quickGelu;

    public CLIPMLP(CLIPTextConfig config) : base(nameof(CLIPMLP))
    {
        _quickGelu = config.HiddenAct == "quick_gelu";
        _fc1 = Layers.Linear(config.HiddenSize, config.IntermediateSize);
        _fc2 = Layers.Linear(config.IntermediateSize, config.HiddenSize);
        register_module("fc1", _fc1);
        register_module("fc2", _fc2);
    }

    public Tensor Forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = _fc1.forward(hiddenStates);
        // quick_gelu is OpenAI CLIP's x·sigmoid(1.702x); "gelu" is transformers' GELUActivation, the exact erf form.
        h = _quickGelu ? h * sigmoid(h * 1.702) : nn.functional.gelu(h);
        return _fc2.forward(h).MoveToOuterDisposeScope();
    }
}
