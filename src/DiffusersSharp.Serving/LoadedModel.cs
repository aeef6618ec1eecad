using DiffusersSharp.Pipelines;
using DiffusersSharp.Models;

namespace DiffusersSharp.Serving;

/// <summary>
/// One model folder loaded once (its owner pipeline holds the components) in the pipeline cache, with its lease count
/// and the gate that lets one generation at a time use it (memory options such as attention slicing are settings of
/// the shared models).
/// </summary>
internal sealed class LoadedModel(ModelSlot slot, string name, object owner) : IDisposable
{
    public ModelSlot Slot { get; } = slot;
    public string Name { get; } = name;

    /// <summary>The pipeline whose components every pipeline of this model shares, or the ControlNet model.</summary>
    public object Owner { get; } = owner;

    public long Bytes { get; } = owner switch
    {
        DiffusionPipeline pipeline => pipeline.Components.Values.OfType<ModelMixin>().Sum(ParameterBytes),
        ModelMixin model => ParameterBytes(model),
        _ => 0,
    };

    /// <summary>Leases now held; guarded by the manager's lock.</summary>
    public int Leases { get; set; }

    /// <summary>When it was last leased (the manager's counter); guarded by the manager's lock.</summary>
    public long LastUsed { get; set; }

    public SemaphoreSlim Gate { get; } = new(1, 1);

    public bool Disposed { get; private set; }

    private static long ParameterBytes(ModelMixin model) => model.parameters().Sum(p => p.numel() * p.element_size());

    public void Dispose()
    {
        Disposed = true;
        (Owner as IDisposable)?.Dispose();
        Gate.Dispose();
    }
}
