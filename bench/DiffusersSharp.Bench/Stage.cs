namespace DiffusersSharp.Bench;

/// <summary>
/// One measurement, run in a child process of its own so that its peak resident memory is its own.
/// </summary>
/// <param name="Kind">ops, build, load, text, unet, vae, generate or flat.</param>
/// <param name="DType">float32 or bfloat16 (float16 for ops only).</param>
/// <param name="Size">Image side in pixels (latents are a VAE factor smaller).</param>
/// <param name="Variant">A variant of the stage: channels-last, sliced, tiled, batch2-sliced, thp-off ...</param>
/// <param name="Repeats">Timed runs after one warm-up run; the median is reported.</param>
/// <param name="Steps">Denoising steps (generate) or generations (flat).</param>
/// <param name="Device">cpu, cuda or cuda:N.</param>
internal sealed record Stage(string Kind, string DType = "float32", int Size = 0, string Variant = "", int Repeats = 1, int Steps = 0, string Device = "cpu")
{
    /// <summary>Environment the child runs with: the thp-off variant turns off libtorch's huge-page allocations.</summary>
    public IReadOnlyDictionary<string, string> Environment =>
        Variant == "thp-off" ? new Dictionary<string, string> { ["THP_MEM_ALLOC_ENABLE"] = "0" } : new Dictionary<string, string>();

    public override string ToString() =>
        $"{Kind} {DType}{(Size > 0 ? $" {Size}px" : "")}{(Variant.Length > 0 ? $" {Variant}" : "")}{(Device != "cpu" ? $" on {Device}" : "")}";
}
