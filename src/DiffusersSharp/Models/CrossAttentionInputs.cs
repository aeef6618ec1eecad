using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// What a UNet hands unchanged to each of its blocks with transformers: the text context and the optional masks,
/// already converted to additive biases as <c>UNet2DConditionModel.forward</c> converts them.
/// </summary>
public sealed record CrossAttentionInputs(Tensor? EncoderHiddenStates, Tensor? AttentionMask = null, Tensor? EncoderAttentionMask = null);
