using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>What the pipeline cache keys loaded models by: the folder, the dtype and the device.</summary>
internal sealed record ModelSlot(string Directory, ScalarType? DType, string Device);
