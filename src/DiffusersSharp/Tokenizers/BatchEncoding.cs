using static TorchSharp.torch;

namespace DiffusersSharp.Tokenizers;

/// <summary>A tokenized batch (transformers' <c>BatchEncoding</c>): ids and attention mask (1 = token, 0 = padding) per text.</summary>
public sealed record BatchEncoding(long[][] InputIds, long[][] AttentionMask)
{
    /// <summary>The ids as a [B, L] int64 tensor; every row must have the same length (pad, or truncate).</summary>
    public Tensor InputIdsTensor() => ToTensor(InputIds, "input_ids");

    /// <summary>The attention mask as a [B, L] int64 tensor.</summary>
    public Tensor AttentionMaskTensor() => ToTensor(AttentionMask, "attention_mask");

    private static Tensor ToTensor(long[][] rows, string what)
    {
        var length = rows.Length == 0 ? 0 : rows[0].Length;
        if (rows.Any(r => r.Length != length))
            throw new InvalidOperationException($"Cannot stack {what} of different lengths ({string.Join(", ", rows.Select(r => r.Length).Distinct())}) into a tensor: tokenize with padding to max_length.");
        return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, length], ScalarType.Int64);
    }
}
