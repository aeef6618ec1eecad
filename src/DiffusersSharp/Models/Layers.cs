using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// TorchSharp's parameterised layers as the models use them, created on the device and in the dtype that
/// <see cref="EmptyWeights"/> asks for while a model loads (meta, final dtype), or with TorchSharp's defaults otherwise.
/// </summary>
public static class Layers
{
    public static Linear Linear(long inputSize, long outputSize, bool hasBias = true) =>
        nn.Linear(inputSize, outputSize, hasBias, EmptyWeights.ParameterDevice, EmptyWeights.ParameterDtype);

    public static Conv2d Conv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, bool bias = true) =>
        nn.Conv2d(inChannels, outChannels, kernelSize, stride, padding, bias: bias, device: EmptyWeights.ParameterDevice, dtype: EmptyWeights.ParameterDtype);

    public static GroupNorm GroupNorm(long numGroups, long numChannels, double eps = 1e-5, bool affine = true) =>
        ResetAffine(nn.GroupNorm(numGroups, numChannels, eps, affine, EmptyWeights.ParameterDevice, EmptyWeights.ParameterDtype));

    public static LayerNorm LayerNorm(long normalizedShape, double eps = 1e-5, bool elementwiseAffine = true) =>
        ResetAffine(nn.LayerNorm(normalizedShape, eps, elementwiseAffine, device: EmptyWeights.ParameterDevice, dtype: EmptyWeights.ParameterDtype));

    public static Embedding Embedding(long numEmbeddings, long embeddingDim) =>
        nn.Embedding(numEmbeddings, embeddingDim, device: EmptyWeights.ParameterDevice, dtype: EmptyWeights.ParameterDtype);

    // TorchSharp 0.107 leaves a norm's affine parameters uninitialised (NaN or garbage) when they are created with a
    // device or dtype; PyTorch's init is weight 1, bias 0. Loading overwrites them, but a model trained from its config needs it.
    private static T ResetAffine<T>(T norm) where T : nn.Module
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in norm.named_parameters())
        {
            if (parameter.device_type == TorchSharp.DeviceType.META) continue;
            if (name == "weight") parameter.fill_(1);
            else if (name == "bias") parameter.zero_();
        }
        return norm;
    }
}
