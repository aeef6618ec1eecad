using System.Text.Json.Nodes;
using DiffusersSharp.Loading;

namespace DiffusersSharp.TrainDemo;

/// <summary>
/// The demo model's component configs, written out in full with every key diffusers and transformers write, so the
/// saved folder reads as one they made.
/// </summary>
public static class DemoModelConfigs
{
    public const int ImageSize = 64;
    public const int TextHiddenSize = 32;

    /// <summary>
    /// RGB ↔ 4 latent channels at 1/4 of the image side: 64 × 64 pictures, 16 × 16 latents (at 1/8 the reconstructions
    /// lost the shape kind of a third of the pictures). Flat shapes need no attention.
    /// </summary>
    public static ModelConfig Vae() => ModelConfig.Parse($$"""
        {
          "act_fn": "silu",
          "block_out_channels": [8, 16, 32],
          "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
          "force_upcast": true,
          "in_channels": 3,
          "latent_channels": 4,
          "latents_mean": null,
          "latents_std": null,
          "layers_per_block": 1,
          "mid_block_add_attention": false,
          "norm_num_groups": 4,
          "out_channels": 3,
          "sample_size": {{ImageSize}},
          "scaling_factor": 1.0,
          "shift_factor": null,
          "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
          "use_post_quant_conv": true,
          "use_quant_conv": true
        }
        """);

    /// <summary>A 2-layer CLIP text encoder with CLIP's full vocabulary and 77 positions.</summary>
    public static ModelConfig TextEncoder() => ModelConfig.Parse($$"""
        {
          "attention_dropout": 0.0,
          "bos_token_id": 49406,
          "eos_token_id": 49407,
          "hidden_act": "quick_gelu",
          "hidden_size": {{TextHiddenSize}},
          "initializer_factor": 1.0,
          "initializer_range": 0.02,
          "intermediate_size": 128,
          "layer_norm_eps": 1e-05,
          "max_position_embeddings": 77,
          "model_type": "clip_text_model",
          "num_attention_heads": 4,
          "num_hidden_layers": 2,
          "pad_token_id": 1,
          "projection_dim": {{TextHiddenSize}},
          "vocab_size": 49408
        }
        """);

    /// <summary>
    /// A three-level UNet on 16 × 16 latents: convolutions only at 16 × 16 (attention there doubles the step time),
    /// cross-attention at 8 × 8, 4 × 4 and in the middle.
    /// </summary>
    public static ModelConfig Unet() => ModelConfig.Parse($$"""
        {
          "act_fn": "silu",
          "addition_embed_type": null,
          "addition_embed_type_num_heads": 64,
          "addition_time_embed_dim": null,
          "attention_head_dim": 4,
          "attention_type": "default",
          "block_out_channels": [32, 64, 64],
          "center_input_sample": false,
          "class_embed_type": null,
          "class_embeddings_concat": false,
          "conv_in_kernel": 3,
          "conv_out_kernel": 3,
          "cross_attention_dim": {{TextHiddenSize}},
          "cross_attention_norm": null,
          "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
          "downsample_padding": 1,
          "dropout": 0.0,
          "dual_cross_attention": false,
          "encoder_hid_dim": null,
          "encoder_hid_dim_type": null,
          "flip_sin_to_cos": true,
          "freq_shift": 0,
          "in_channels": 4,
          "layers_per_block": 1,
          "mid_block_only_cross_attention": null,
          "mid_block_scale_factor": 1,
          "mid_block_type": "UNetMidBlock2DCrossAttn",
          "norm_eps": 1e-05,
          "norm_num_groups": 8,
          "num_attention_heads": null,
          "num_class_embeds": null,
          "only_cross_attention": false,
          "out_channels": 4,
          "projection_class_embeddings_input_dim": null,
          "resnet_out_scale_factor": 1.0,
          "resnet_skip_time_act": false,
          "resnet_time_scale_shift": "default",
          "reverse_transformer_layers_per_block": null,
          "sample_size": {{ImageSize / 4}},
          "time_cond_proj_dim": null,
          "time_embedding_act_fn": null,
          "time_embedding_dim": null,
          "time_embedding_type": "positional",
          "timestep_post_act": null,
          "transformer_layers_per_block": 1,
          "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
          "upcast_attention": false,
          "use_linear_projection": false
        }
        """);

    /// <summary>The optional components diffusers lists in a StableDiffusionPipeline's model_index.json, all absent.</summary>
    public static ModelConfig ModelIndex() => ModelConfig.Parse("""
        {
          "feature_extractor": [null, null],
          "image_encoder": [null, null],
          "requires_safety_checker": false,
          "safety_checker": [null, null]
        }
        """);

    /// <summary>
    /// Stable Diffusion's training noise schedule (1000 steps, scaled-linear betas), rescaled to zero terminal SNR (Lin
    /// et al. 2024): the last timestep's input is pure noise, as the sampler's first one is, so only the caption can say
    /// where the shape goes (see <see cref="TrainOptions.LayoutLastStepShare"/>).
    /// </summary>
    public static ModelConfig TrainingScheduler(string predictionType) => ModelConfig.Parse($$"""
        {
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "clip_sample": false,
          "num_train_timesteps": 1000,
          "prediction_type": "{{predictionType}}",
          "rescale_betas_zero_snr": true,
          "steps_offset": 1,
          "timestep_spacing": "leading",
          "trained_betas": null
        }
        """);

    /// <summary>
    /// The scheduler the folder ships with: DPM-Solver++ (2M) on the training betas, good in 20 steps; "trailing"
    /// spacing, as Lin et al. advise with zero terminal SNR: sampling starts at the last (pure-noise) timestep, which
    /// "leading" would skip (its first is 951).
    /// </summary>
    public static ModelConfig InferenceScheduler(string predictionType) => ModelConfig.Parse($$"""
        {
          "algorithm_type": "dpmsolver++",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "lower_order_final": true,
          "num_train_timesteps": 1000,
          "prediction_type": "{{predictionType}}",
          "rescale_betas_zero_snr": true,
          "solver_order": 2,
          "steps_offset": 1,
          "timestep_spacing": "trailing",
          "trained_betas": null,
          "use_karras_sigmas": false
        }
        """);
}
