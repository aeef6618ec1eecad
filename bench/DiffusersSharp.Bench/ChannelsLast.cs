using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Bench;

/// <summary>
/// Channels-last (NHWC) layout for convolutions, measured against libtorch's default NCHW. TorchSharp has no memory
/// format argument, but libtorch reads the layout from the strides, which a permute round trip sets.
/// </summary>
internal static class ChannelsLast
{
    /// <summary>The same [N, C, H, W] values stored channels-last.</summary>
    public static Tensor Of(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>Stores every convolution weight of <paramref name="module"/> channels-last.</summary>
    public static void Apply(nn.Module module)
    {
        foreach (var conv in module.modules().OfType<Conv2d>())
            conv.weight = new Parameter(Of(conv.weight), requires_grad: false);
    }
}
