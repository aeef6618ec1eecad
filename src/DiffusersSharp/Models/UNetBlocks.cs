using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>get_down_block</c> / <c>get_up_block</c>: UNet blocks by their config type names.</summary>
public static class UNetBlocks
{
    public static IReadOnlyList<string> DownBlockTypes { get; } = ["DownBlock2D", "CrossAttnDownBlock2D", "AttnDownBlock2D"];

    public static IReadOnlyList<string> UpBlockTypes { get; } = ["UpBlock2D", "CrossAttnUpBlock2D", "AttnUpBlock2D"];

    public static nn.Module CreateDownBlock(string type, UNetBlockOptions options) => StripResPrefix(type) switch
    {
        "DownBlock2D" => new DownBlock2D(options),
        "CrossAttnDownBlock2D" => new CrossAttnDownBlock2D(options),
        "AttnDownBlock2D" => new AttnDownBlock2D(options),
        _ => throw new NotSupportedException($"Unsupported down block type '{type}': DiffusersSharp supports {string.Join(", ", DownBlockTypes)}."),
    };

    public static nn.Module CreateUpBlock(string type, UNetBlockOptions options) => StripResPrefix(type) switch
    {
        "UpBlock2D" => new UpBlock2D(options),
        "CrossAttnUpBlock2D" => new CrossAttnUpBlock2D(options),
        "AttnUpBlock2D" => new AttnUpBlock2D(options),
        _ => throw new NotSupportedException($"Unsupported up block type '{type}': DiffusersSharp supports {string.Join(", ", UpBlockTypes)}."),
    };

    /// <summary>Mid block types of the text-conditioned UNet and the ControlNet.</summary>
    public static IReadOnlyList<string> MidBlockTypes { get; } = ["UNetMidBlock2DCrossAttn", "UNetMidBlock2D"];

    /// <summary>
    /// The mid block as UNet2DConditionModel and ControlNetModel build it: "UNetMidBlock2D" there is a single resnet
    /// (no attention layers), whatever <see cref="UNetBlockOptions.NumLayers"/> and <see cref="UNetBlockOptions.AddAttention"/> say.
    /// </summary>
    public static nn.Module CreateMidBlock(string type, UNetBlockOptions options) => type switch
    {
        "UNetMidBlock2DCrossAttn" => new UNetMidBlock2DCrossAttn(options),
        "UNetMidBlock2D" => new UNetMidBlock2D(options with { NumLayers = 0, AddAttention = false }),
        _ => throw new NotSupportedException($"Unsupported mid block type '{type}': DiffusersSharp supports {string.Join(", ", MidBlockTypes)}."),
    };

    public static bool IsSupportedDownBlock(string type) => DownBlockTypes.Contains(StripResPrefix(type));

    public static bool IsSupportedUpBlock(string type) => UpBlockTypes.Contains(StripResPrefix(type));

    // diffusers accepts legacy "UNetRes"-prefixed names for the same blocks.
    private static string StripResPrefix(string type) => type.StartsWith("UNetRes", StringComparison.Ordinal) ? type[7..] : type;
}
