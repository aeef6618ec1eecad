using static TorchSharp.torch;

namespace DiffusersSharp.Serving;

/// <summary>A pipeline to lease: a model folder's name, the task, dtype and device, and the ControlNet for <see cref="PipelineTask.ControlNet"/>.</summary>
public sealed record PipelineKey(string Model, PipelineTask Task, ScalarType? DType, string Device, string? ControlNet = null);
