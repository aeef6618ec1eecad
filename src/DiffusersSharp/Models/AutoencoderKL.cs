using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>AutoencoderKL</c>, the VAE of SD 1.x/2.x, SDXL and SD3: encodes images in [-1, 1] to a diagonal
/// Gaussian over latents and decodes latents back to images. <see cref="Decode"/> is the raw decode; the caller
/// applies <see cref="ScalingFactor"/> and <see cref="ShiftFactor"/> as pipelines do.
/// </summary>
public sealed class AutoencoderKL : ModelMixin
{
    private readonly Conv2d? _quantConv;
    private readonly Conv2d? _postQuantConv;

    public AutoencoderKL(ModelConfig config) : base(nameof(AutoencoderKL), config)
    {
        // diffusers' register_to_config writes every argument, so a saved config carries the resolved defaults.
        config.SetDefault("in_channels", 3);
        config.SetDefault("out_channels", 3);
        config.SetDefault("down_block_types", new JsonArray("DownEncoderBlock2D"));
        config.SetDefault("up_block_types", new JsonArray("UpDecoderBlock2D"));
        config.SetDefault("block_out_channels", new JsonArray(64));
        config.SetDefault("layers_per_block", 1);
        config.SetDefault("act_fn", "silu");
        config.SetDefault("latent_channels", 4);
        config.SetDefault("norm_num_groups", 32);
        config.SetDefault("sample_size", 32);
        config.SetDefault("scaling_factor", 0.18215);
        config.SetDefault("shift_factor", null);
        config.SetDefault("latents_mean", null);
        config.SetDefault("latents_std", null);
        config.SetDefault("force_upcast", true);
        config.SetDefault("use_quant_conv", true);
        config.SetDefault("use_post_quant_conv", true);
        config.SetDefault("mid_block_add_attention", true);

        config.RequireSupported("down_block_types", v => IsListOf(v, s => s is "DownEncoderBlock2D" or "UNetResDownEncoderBlock2D"), "lists of DownEncoderBlock2D");
        config.RequireSupported("up_block_types", v => IsListOf(v, s => s is "UpDecoderBlock2D" or "UNetResUpDecoderBlock2D"), "lists of UpDecoderBlock2D");
        var blockOutChannels = config.GetIntArray("block_out_channels")!;
        var downBlockTypes = config.GetStringArray("down_block_types")!;
        var upBlockTypes = config.GetStringArray("up_block_types")!;
        if (blockOutChannels.Length == 0 || downBlockTypes.Length != blockOutChannels.Length || upBlockTypes.Length != blockOutChannels.Length)
            throw new InvalidDataException(
                $"Config in {config.Source ?? "config"} has {blockOutChannels.Length} block_out_channels, {downBlockTypes.Length} down_block_types and {upBlockTypes.Length} up_block_types; they must be equal and non-zero.");
        var actFn = config.GetString("act_fn", "silu");
        try
        {
            Activations.Get(actFn).Dispose();
        }
        catch (NotSupportedException e)
        {
            throw new NotSupportedException($"Unsupported config option act_fn=\"{actFn}\" in {config.Source ?? "config"}: {e.Message}", e);
        }

        LatentChannels = config.GetInt("latent_channels", 4);
        ScalingFactor = config.GetDouble("scaling_factor", 0.18215);
        ShiftFactor = config.GetNullableDouble("shift_factor");
        LatentsMean = config.GetDoubleArray("latents_mean");
        LatentsStd = config.GetDoubleArray("latents_std");
        ForceUpcast = config.GetBool("force_upcast", true);
        VaeScaleFactor = 1 << (blockOutChannels.Length - 1);

        var normNumGroups = config.GetInt("norm_num_groups", 32);
        var layersPerBlock = config.GetInt("layers_per_block", 1);
        var midBlockAddAttention = config.GetBool("mid_block_add_attention", true);
        Encoder = new Encoder(new EncoderOptions
        {
            InChannels = config.GetInt("in_channels", 3),
            OutChannels = LatentChannels,
            DownBlockTypes = downBlockTypes,
            BlockOutChannels = blockOutChannels,
            LayersPerBlock = layersPerBlock,
            ActFn = actFn,
            NormNumGroups = normNumGroups,
            DoubleZ = true,
            MidBlockAddAttention = midBlockAddAttention,
        });
        Decoder = new Decoder(new DecoderOptions
        {
            InChannels = LatentChannels,
            OutChannels = config.GetInt("out_channels", 3),
            UpBlockTypes = upBlockTypes,
            BlockOutChannels = blockOutChannels,
            LayersPerBlock = layersPerBlock,
            NormNumGroups = normNumGroups,
            ActFn = actFn,
            MidBlockAddAttention = midBlockAddAttention,
        });
        register_module("encoder", Encoder);
        register_module("decoder", Decoder);
        if (config.GetBool("use_quant_conv", true))
        {
            _quantConv = Layers.Conv2d(2 * LatentChannels, 2 * LatentChannels, 1);
            register_module("quant_conv", _quantConv);
        }
        if (config.GetBool("use_post_quant_conv", true))
        {
            _postQuantConv = Layers.Conv2d(LatentChannels, LatentChannels, 1);
            register_module("post_quant_conv", _postQuantConv);
        }

        // diffusers tiles by sample_size in pixels; a list sample_size breaks its size checks, so take its first entry.
        TileSampleMinSize = config["sample_size"] is JsonArray ? config.GetIntArray("sample_size")![0] : config.GetInt("sample_size", 32);
        TileLatentMinSize = (int)(TileSampleMinSize / (double)VaeScaleFactor);
    }

    public static AutoencoderKL FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new AutoencoderKL(config));

    public override string ClassName => nameof(AutoencoderKL);

    public Encoder Encoder { get; }
    public Decoder Decoder { get; }

    public int LatentChannels { get; }
    /// <summary>Pipelines multiply encoded latents by this (after subtracting <see cref="ShiftFactor"/>) and divide before decoding.</summary>
    public double ScalingFactor { get; }
    /// <summary>SD3's latent shift; null for SD/SDXL.</summary>
    public double? ShiftFactor { get; }
    public IReadOnlyList<double>? LatentsMean { get; }
    public IReadOnlyList<double>? LatentsStd { get; }
    /// <summary>Whether pipelines must run this VAE in float32 even when the rest runs in half precision.</summary>
    public bool ForceUpcast { get; }
    /// <summary>Pixels per latent along each side: 2^(len(block_out_channels) - 1).</summary>
    public int VaeScaleFactor { get; }

    /// <summary>Encode and decode one batch item at a time.</summary>
    public bool UseSlicing { get; private set; }
    /// <summary>Encode and decode inputs larger than a tile in overlapping tiles, blended at the seams.</summary>
    public bool UseTiling { get; private set; }
    /// <summary>Tile side in pixels (diffusers' <c>tile_sample_min_size</c>).</summary>
    public int TileSampleMinSize { get; set; }
    /// <summary>Tile side in latents (diffusers' <c>tile_latent_min_size</c>).</summary>
    public int TileLatentMinSize { get; set; }
    public double TileOverlapFactor { get; set; } = 0.25;

    public void EnableSlicing() => UseSlicing = true;
    public void DisableSlicing() => UseSlicing = false;
    public void EnableTiling() => UseTiling = true;
    public void DisableTiling() => UseTiling = false;

    /// <summary>[B, in_channels, H, W] images in [-1, 1] → the latent posterior. Runs without autograd.</summary>
    public DiagonalGaussianDistribution Encode(Tensor x)
    {
        OnForward();
        using var noGrad = no_grad();
        Tensor moments;
        using (var scope = NewDisposeScope())
        {
            var h = UseSlicing && x.shape[0] > 1 ? cat(x.split(1).Select(EncodeMoments).ToList(), 0) : EncodeMoments(x);
            moments = h.MoveToOuterDisposeScope();
        }
        return new DiagonalGaussianDistribution(moments);
    }

    /// <summary>Raw decode (no scaling or shift applied): [B, latent_channels, h, w] → [B, out_channels, h·f, w·f]. Runs without autograd.</summary>
    public Tensor Decode(Tensor z)
    {
        OnForward();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var decoded = UseSlicing && z.shape[0] > 1 ? cat(z.split(1).Select(DecodeOne).ToList(), 0) : DecodeOne(z);
        return decoded.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' <c>forward</c>: encode, take the posterior's mode (or a sample), decode.</summary>
    public Tensor Forward(Tensor sample, bool samplePosterior = false, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        using var posterior = Encode(sample);
        var z = samplePosterior ? posterior.Sample(generator) : posterior.Mode();
        return Decode(z).MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' <c>tiled_decode</c>: decodes overlapping latent tiles and blends them, whatever the size.</summary>
    public Tensor TiledDecode(Tensor z)
    {
        OnForward();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var overlapSize = (int)(TileLatentMinSize * (1 - TileOverlapFactor));
        var blendExtent = (int)(TileSampleMinSize * TileOverlapFactor);
        var rowLimit = TileSampleMinSize - blendExtent;
        var tiles = Tile(z, TileLatentMinSize, overlapSize, tile =>
        {
            if (_postQuantConv is not null) tile = _postQuantConv.forward(tile);
            return Decoder.Forward(tile);
        });
        return BlendTiles(tiles, blendExtent, rowLimit).MoveToOuterDisposeScope();
    }

    private Tensor EncodeMoments(Tensor x)
    {
        if (UseTiling && (x.shape[3] > TileSampleMinSize || x.shape[2] > TileSampleMinSize))
            return TiledEncodeMoments(x);
        var enc = Encoder.Forward(x);
        return _quantConv is null ? enc : _quantConv.forward(enc);
    }

    private Tensor DecodeOne(Tensor z)
    {
        if (UseTiling && (z.shape[3] > TileLatentMinSize || z.shape[2] > TileLatentMinSize))
            return TiledDecode(z);
        if (_postQuantConv is not null) z = _postQuantConv.forward(z);
        return Decoder.Forward(z);
    }

    /// <summary>diffusers' <c>_tiled_encode</c>: the moments of overlapping image tiles, blended.</summary>
    private Tensor TiledEncodeMoments(Tensor x)
    {
        var overlapSize = (int)(TileSampleMinSize * (1 - TileOverlapFactor));
        var blendExtent = (int)(TileLatentMinSize * TileOverlapFactor);
        var rowLimit = TileLatentMinSize - blendExtent;
        var tiles = Tile(x, TileSampleMinSize, overlapSize, tile =>
        {
            var enc = Encoder.Forward(tile);
            return _quantConv is null ? enc : _quantConv.forward(enc);
        });
        return BlendTiles(tiles, blendExtent, rowLimit);
    }

    /// <summary>Runs <paramref name="run"/> on tiles of side <paramref name="tileSize"/> starting every <paramref name="stride"/> pixels.</summary>
    private static List<List<Tensor>> Tile(Tensor input, int tileSize, int stride, Func<Tensor, Tensor> run)
    {
        if (stride <= 0)
            throw new InvalidOperationException($"Tile size {tileSize} with overlap factor leaves no stride; raise the tile size.");
        long height = input.shape[2], width = input.shape[3];
        var rows = new List<List<Tensor>>();
        for (long i = 0; i < height; i += stride)
        {
            var row = new List<Tensor>();
            for (long j = 0; j < width; j += stride)
            {
                var tile = input.slice(2, i, Math.Min(i + tileSize, height), 1).slice(3, j, Math.Min(j + tileSize, width), 1);
                row.Add(run(tile));
            }
            rows.Add(row);
        }
        return rows;
    }

    /// <summary>
    /// Blends each tile with the one above and the one to its left, then keeps its top-left
    /// <paramref name="rowLimit"/> square. As in diffusers the blends write into the tiles themselves, so a tile's
    /// already-blended edges feed its right and lower neighbours.
    /// </summary>
    private static Tensor BlendTiles(List<List<Tensor>> rows, int blendExtent, int rowLimit)
    {
        var resultRows = new List<Tensor>();
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var resultRow = new List<Tensor>();
            for (var j = 0; j < row.Count; j++)
            {
                var tile = row[j];
                if (i > 0) Blend(rows[i - 1][j], tile, blendExtent, dim: 2);
                if (j > 0) Blend(row[j - 1], tile, blendExtent, dim: 3);
                resultRow.Add(tile.slice(2, 0, Math.Min(rowLimit, tile.shape[2]), 1).slice(3, 0, Math.Min(rowLimit, tile.shape[3]), 1));
            }
            resultRows.Add(cat(resultRow, 3));
        }
        return cat(resultRows, 2);
    }

    /// <summary>diffusers' <c>blend_v</c> (dim 2) and <c>blend_h</c> (dim 3): a linear ramp from <paramref name="a"/>'s far edge into <paramref name="b"/>, in place.</summary>
    private static void Blend(Tensor a, Tensor b, int blendExtent, int dim)
    {
        var extent = (int)Math.Min(Math.Min(a.shape[dim], b.shape[dim]), blendExtent);
        for (var k = 0; k < extent; k++)
        {
            using var scope = NewDisposeScope();
            var weight = k / (double)extent;
            var blended = a.select(dim, a.shape[dim] - extent + k) * (1 - weight) + b.select(dim, k) * weight;
            b.select(dim, k).copy_(blended);
        }
    }

    // get_down_block / get_up_block strip a "UNetRes" prefix before matching, so both spellings load.
    private static bool IsListOf(JsonNode? value, Func<string, bool> allowed) =>
        value is JsonArray array && array.All(x => x is JsonValue v && v.TryGetValue<string>(out var s) && allowed(s));
}
