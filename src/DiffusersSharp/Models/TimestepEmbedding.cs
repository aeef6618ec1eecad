using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>TimestepEmbedding</c>: linear_1 → act → linear_2 (→ post_act), with an optional cond_proj that adds a
/// projected condition (LCM's guidance embedding) to the input first.
/// </summary>
public sealed class TimestepEmbedding : DiffusersModule
{
    private readonly Linear _linear1;
    private readonly Linear? _condProj;
    private readonly nn.Module<Tensor, Tensor> _act;
    private readonly Linear _linear2;
    private readonly nn.Module<Tensor, Tensor>? _postAct;

    public TimestepEmbedding(long inChannels, long timeEmbedDim, string actFn = "silu", long? outDim = null,
        string? postActFn = null, long? condProjDim = null, bool sampleProjBias = true) : base(nameof(TimestepEmbedding))
    {
        _linear1 = Layers.Linear(inChannels, timeEmbedDim, hasBias: sampleProjBias);
        register_module("linear_1", _linear1);
        if (condProjDim is { } cond)
        {
            _condProj = Layers.Linear(cond, inChannels, hasBias: false);
            register_module("cond_proj", _condProj);
        }
        _act = Activations.Get(actFn);
        register_module("act", _act);
        _linear2 = Layers.Linear(timeEmbedDim, outDim ?? timeEmbedDim, hasBias: sampleProjBias);
        register_module("linear_2", _linear2);
        if (postActFn is not null)
        {
            _postAct = Activations.Get(postActFn);
            register_module("post_act", _postAct);
        }
    }

    public Tensor Forward(Tensor sample, Tensor? condition = null)
    {
        using var scope = NewDisposeScope();
        if (condition is not null)
        {
            if (_condProj is null)
                throw new ArgumentException("This TimestepEmbedding has no cond_proj (time_cond_proj_dim is null), so it takes no condition.", nameof(condition));
            sample = sample + _condProj.forward(condition);
        }
        var h = _linear2.forward(_act.forward(_linear1.forward(sample)));
        if (_postAct is not null) h = _postAct.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
