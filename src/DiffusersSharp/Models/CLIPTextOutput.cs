using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// Output of <see cref="CLIPTextModel"/> (transformers' <c>BaseModelOutputWithPooling</c>).
/// <see cref="LastHiddenState"/> [B, L, C] is after the final layer norm; <see cref="PooledOutput"/> [B, C] is its
/// end-of-text row; <see cref="HiddenStates"/> (when asked for) are the embeddings then each layer's output, all before
/// the final layer norm: SD's clip_skip and SDXL take <c>HiddenStates[^2]</c>. Disposing frees them all.
/// </summary>
public sealed record CLIPTextOutput(Tensor LastHiddenState, Tensor PooledOutput, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PooledOutput.Dispose();
        if (HiddenStates is not null)
            foreach (var t in HiddenStates) t.Dispose();
    }
}
