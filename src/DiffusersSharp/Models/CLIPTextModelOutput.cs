using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// Output of <see cref="CLIPTextModelWithProjection"/> (transformers' <c>CLIPTextModelOutput</c>):
/// <see cref="TextEmbeds"/> [B, projection_dim] is the projected pooled state (SDXL's pooled prompt embeds); the others
/// are as in <see cref="CLIPTextOutput"/>. Disposing frees them all.
/// </summary>
public sealed record CLIPTextModelOutput(Tensor TextEmbeds, Tensor LastHiddenState, IReadOnlyList<Tensor>? HiddenStates) : IDisposable
{
    public void Dispose()
    {
        TextEmbeds.Dispose();
        LastHiddenState.Dispose();
        if (HiddenStates is not null)
            foreach (var t in HiddenStates) t.Dispose();
    }
}
