using DiffusersSharp.Models;
using DiffusersSharp.Tokenizers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>diffusers' <c>encode_prompt</c> for pipelines with one CLIP text encoder.</summary>
public static class PromptEncoding
{
    /// <returns>Prompt embeddings [B·K, 77, D] and, with guidance, the negative ones (null otherwise).</returns>
    public static (Tensor Prompt, Tensor? Negative) EncodePrompt(CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
        IReadOnlyList<string>? prompt, IReadOnlyList<string>? negativePrompt, Tensor? promptEmbeds, Tensor? negativePromptEmbeds,
        int numImagesPerPrompt, bool doClassifierFreeGuidance, int? clipSkip, Device device, ScalarType dtype)
    {
        if (promptEmbeds is null)
        {
            using var ids = tokenizer.CallTensor(prompt!, tokenizer.ModelMaxLength);
            if (clipSkip is null)
            {
                using var output = textEncoder.Forward(ids);
                promptEmbeds = output.LastHiddenState.clone();
            }
            else
            {
                // The hidden state clip_skip layers before the last, through the final layer norm as diffusers does.
                using var output = textEncoder.Forward(ids, outputHiddenStates: true);
                var hidden = output.HiddenStates![output.HiddenStates.Count - (clipSkip.Value + 1)];
                promptEmbeds = textEncoder.TextModel.FinalLayerNorm.forward(hidden);
            }
        }
        promptEmbeds = promptEmbeds.to(dtype, device);
        var batch = promptEmbeds.shape[0];
        promptEmbeds = RepeatPerPrompt(promptEmbeds, numImagesPerPrompt);

        if (!doClassifierFreeGuidance) return (promptEmbeds, null);
        if (negativePromptEmbeds is null)
        {
            IReadOnlyList<string> uncond = negativePrompt switch
            {
                null => Enumerable.Repeat("", (int)batch).ToArray(),
                { Count: 1 } when batch > 1 => Enumerable.Repeat(negativePrompt[0], (int)batch).ToArray(),
                _ => negativePrompt,
            };
            using var ids = tokenizer.CallTensor(uncond, (int)promptEmbeds.shape[1]);
            using var output = textEncoder.Forward(ids);
            negativePromptEmbeds = output.LastHiddenState.clone();
        }
        negativePromptEmbeds = RepeatPerPrompt(negativePromptEmbeds.to(dtype, device), numImagesPerPrompt);
        return (promptEmbeds, negativePromptEmbeds);
    }

    /// <summary>
    /// [B, ...] → [B·K, ...] with each prompt's K copies together, as diffusers orders them (its repeat-then-view);
    /// for sequence embeddings [B, L, D] and pooled ones [B, D] alike.
    /// </summary>
    public static Tensor RepeatPerPrompt(Tensor embeds, int k) =>
        k == 1 ? embeds : embeds.repeat_interleave(k, dim: 0);
}
