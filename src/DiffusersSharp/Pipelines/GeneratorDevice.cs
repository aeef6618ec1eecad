namespace DiffusersSharp.Pipelines;

/// <summary>Where the generator a call seeds from <c>Seed</c> draws its random numbers.</summary>
public enum GeneratorDevice
{
    /// <summary>
    /// A CPU generator, whose draws move to the pipeline's device: diffusers' recommendation
    /// (<c>torch.Generator("cpu").manual_seed(seed)</c>), the same pictures for a seed on every device.
    /// </summary>
    Cpu,

    /// <summary>
    /// A generator on the pipeline's device (<c>torch.Generator("cuda").manual_seed(seed)</c>): no copy of the noise to
    /// the device, but CUDA's generator draws other numbers than the CPU's, so the pictures differ from the CPU's. On
    /// CUDA the call reseeds the device's default generator, which concurrent calls on the same GPU share: their
    /// pictures are then not reproducible.
    /// </summary>
    Device,
}
