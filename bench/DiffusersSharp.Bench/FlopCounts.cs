using DiffusersSharp.Loading;

namespace DiffusersSharp.Bench;

/// <summary>
/// Analytic FLOP counts (two per multiply-add) of the matmuls and convolutions of Stable Diffusion's components,
/// read from their configs. Norms, activations, softmax and elementwise ops are left out (well under 1 %). For SD 1.5's
/// UNet this gives 1606.4 GFLOP per guided step at 512×512 and 360.1 at 256×256, the figures of
/// ../shared/performance-anchors.md (1606.5 and 360.2) to 0.1 GFLOP.
/// </summary>
internal static class FlopCounts
{
    private static double Conv(long cin, long cout, long pixels, int kernel = 3) => 2.0 * kernel * kernel * cin * cout * pixels;

    private static double Resnet(long cin, long cout, long pixels) =>
        Conv(cin, cout, pixels) + Conv(cout, cout, pixels) + (cin != cout ? Conv(cin, cout, pixels, 1) : 0);

    /// <summary>Self-attention over <paramref name="tokens"/> of width <paramref name="channels"/>: q, k, v, out projections and the two attention matmuls.</summary>
    private static double SelfAttention(long channels, long tokens) => 8.0 * tokens * channels * channels + 4.0 * tokens * tokens * channels;

    /// <summary>
    /// A Transformer2DModel with one BasicTransformerBlock (SD 1.x/2.x): 1×1 (or linear) projections in and out,
    /// self-attention, cross-attention over <paramref name="contextLength"/> tokens, GEGLU feed-forward (4× width).
    /// </summary>
    private static double Transformer(long c, long n, long contextLength, long contextDim) =>
        4.0 * n * c * c                                              // proj_in, proj_out
        + SelfAttention(c, n)                                        // attn1
        + 4.0 * n * c * c + 4.0 * contextLength * contextDim * c     // attn2: q and out; k and v from the context
        + 4.0 * n * contextLength * c                                // attn2: scores and weighted sum
        + 2.0 * n * c * 8 * c + 2.0 * n * 4 * c * c;                 // GEGLU: c → 2·4c, then 4c → c

    /// <summary>One UNet2DConditionModel call on a [batch, in_channels, h, w] latent.</summary>
    public static double UNet(ModelConfig config, long batch, long h, long w, long contextLength)
    {
        if (config["transformer_layers_per_block"] is { } layers && layers.ToJsonString() != "1")
            throw new NotSupportedException("FLOP count assumes one transformer layer per block (SD 1.x/2.x).");
        var channels = config.GetIntArray("block_out_channels")!;
        var down = config.GetStringArray("down_block_types")!;
        var up = config.GetStringArray("up_block_types")!;
        var layersPerBlock = config.GetInt("layers_per_block", 2);
        var contextDim = config.GetInt("cross_attention_dim", 1280);
        var n = channels.Length;

        var flops = Conv(config.GetInt("in_channels", 4), channels[0], h * w);
        var skips = new Stack<long>([channels[0]]);
        long previous = channels[0];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < layersPerBlock; j++)
            {
                flops += Resnet(previous, channels[i], h * w);
                previous = channels[i];
                if (down[i].StartsWith("CrossAttn", StringComparison.Ordinal)) flops += Transformer(channels[i], h * w, contextLength, contextDim);
                skips.Push(channels[i]);
            }
            if (i == n - 1) continue;
            (h, w) = ((h + 1) / 2, (w + 1) / 2);
            flops += Conv(channels[i], channels[i], h * w);
            skips.Push(channels[i]);
        }
        flops += 2 * Resnet(previous, previous, h * w) + Transformer(previous, h * w, contextLength, contextDim);
        for (var i = 0; i < n; i++)
        {
            var c = channels[n - 1 - i];
            for (var j = 0; j <= layersPerBlock; j++)
            {
                flops += Resnet(previous + skips.Pop(), c, h * w);
                previous = c;
                if (up[i].StartsWith("CrossAttn", StringComparison.Ordinal)) flops += Transformer(c, h * w, contextLength, contextDim);
            }
            if (i == n - 1) continue;
            (h, w) = (h * 2, w * 2);
            flops += Conv(c, c, h * w);
        }
        flops += Conv(channels[0], config.GetInt("out_channels", 4), h * w);
        return flops * batch;
    }

    /// <summary>AutoencoderKL's decode of one [latent_channels, h, w] latent (post_quant_conv, decoder).</summary>
    public static double VaeDecode(ModelConfig config, long h, long w)
    {
        var channels = config.GetIntArray("block_out_channels")!.Reverse().ToArray();
        var latent = config.GetInt("latent_channels", 4);
        var layersPerBlock = config.GetInt("layers_per_block", 1);
        var flops = Conv(latent, latent, h * w, 1) + Conv(latent, channels[0], h * w);
        flops += 2 * Resnet(channels[0], channels[0], h * w) + SelfAttention(channels[0], h * w);
        long previous = channels[0];
        for (var i = 0; i < channels.Length; i++)
        {
            for (var j = 0; j <= layersPerBlock; j++)
            {
                flops += Resnet(previous, channels[i], h * w);
                previous = channels[i];
            }
            if (i == channels.Length - 1) continue;
            (h, w) = (h * 2, w * 2);
            flops += Conv(channels[i], channels[i], h * w);
        }
        return flops + Conv(previous, config.GetInt("out_channels", 3), h * w);
    }

    /// <summary>CLIPTextModel on [batch, length] tokens: per layer q, k, v, out, the attention matmuls and the MLP.</summary>
    public static double TextEncoder(ModelConfig config, long batch, long length)
    {
        long d = config.GetInt("hidden_size", 512), inner = config.GetInt("intermediate_size", 2048);
        var perLayer = SelfAttention(d, length) + 4.0 * length * d * inner;
        return perLayer * config.GetInt("num_hidden_layers", 12) * batch;
    }
}
