namespace DiffusersSharp.TrainDemo;

/// <summary>What <see cref="DemoTrainer"/> trains and where it writes; the defaults reproduce <c>models/demo-shapes</c>.</summary>
public sealed record TrainOptions
{
    /// <summary>The pipeline folder written at the end.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>Where checkpoints go; a re-run with the same settings resumes from the newest one.</summary>
    public required string CheckpointDirectory { get; init; }
    /// <summary>The CLIP tokenizer folder copied into the pipeline (the real CLIP vocabulary).</summary>
    public required string TokenizerDirectory { get; init; }
    public int Seed { get; init; }
    public int VaeSteps { get; init; } = 4000;
    public int VaeBatchSize { get; init; } = 16;
    public double VaeLearningRate { get; init; } = 2e-3;
    /// <summary>
    /// Weight of the KL term (per latent element) against the reconstruction loss (per pixel element). Small, as in
    /// Stable Diffusion's VAE (it was 1e-4; the lost shape colours of that run came from oneDNN's gradients, see
    /// <see cref="DemoTrainer.Run"/>, so the KL's own share in them was not measured).
    /// </summary>
    public double VaeKlWeight { get; init; } = 1e-6;
    /// <summary>Pictures encoded once for the denoiser stage; each visit draws a fresh latent sample and caption.</summary>
    public int LatentPoolSize { get; init; } = 4096;
    public int UnetSteps { get; init; } = 6000;
    public int UnetBatchSize { get; init; } = 32;
    public double UnetLearningRate { get; init; } = 1e-3;
    /// <summary>Share of captions replaced by "" so classifier-free guidance has an unconditional model.</summary>
    public double CaptionDropout { get; init; } = 0.1;
    public double EmaDecay { get; init; } = 0.998;
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Seconds between checkpoints.</summary>
    public int CheckpointSeconds { get; init; } = 180;
    public int LogEvery { get; init; } = 50;
    public int Threads { get; init; } = 1;

    /// <summary>A few steps of each stage on a small pool: checks the tool end to end in seconds.</summary>
    public TrainOptions AsSmoke() => this with
    {
        VaeSteps = 3,
        VaeBatchSize = 4,
        LatentPoolSize = 16,
        UnetSteps = 3,
        UnetBatchSize = 4,
        WarmupSteps = 1,
        LogEvery = 1,
    };

    /// <summary>
    /// The settings that change what is trained: a checkpoint only resumes under the same ones. The step counts are
    /// left out, so a stopped run can be resumed with a shorter or longer schedule (the learning-rate decay re-times).
    /// </summary>
    public string Fingerprint() =>
        string.Join(";", Seed, VaeBatchSize, VaeLearningRate, VaeKlWeight, LatentPoolSize, UnetBatchSize,
            UnetLearningRate, CaptionDropout, EmaDecay, WarmupSteps);
}
