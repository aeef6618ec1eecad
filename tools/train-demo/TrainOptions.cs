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
    /// Weight of the KL term (per latent element) against the reconstruction loss (per pixel element). At 1e-6 (Stable
    /// Diffusion's order) the posterior spread was 0.02 against latents spread 3.1: the decoder never saw an imprecise
    /// latent, and the denoiser's small errors came out as blotchy colours and round blobs whatever shape was asked
    /// (12 of 48 held-out captions drew the asked shape). At 1e-3 the spread is 0.37 against 0.85, the decoder draws
    /// flat shapes from the denoiser's latents, and 31 of 48 came out in the asked shape at guidance 3 (41 with
    /// <see cref="TokenEmbeddingStd"/> 0.5; see the model card).
    /// </summary>
    public double VaeKlWeight { get; init; } = 1e-3;
    /// <summary>Pictures encoded once for the denoiser stage; each visit draws a fresh latent sample and caption.</summary>
    public int LatentPoolSize { get; init; } = 4096;
    /// <summary>Steps of the joint stage: warm-up and cosine decay from <see cref="UnetLearningRate"/>, mixed timesteps.</summary>
    public int UnetSteps { get; init; } = 3000;
    public int UnetBatchSize { get; init; } = 32;
    public double UnetLearningRate { get; init; } = 1e-3;
    /// <summary>
    /// What the UNet learns to predict: diffusers' <c>prediction_type</c>, "v_prediction" or "epsilon". Measured on
    /// the clean picture, epsilon's loss weighs the error by ᾱ/(1 − ᾱ), near 0 at the noise levels where the sampler
    /// lays the picture out (0.005 at the last timestep); v-prediction's by 1/(1 − ᾱ), at least 1.
    /// </summary>
    public string PredictionType
    {
        get;
        init => field = value is "v_prediction" or "epsilon"
            ? value
            : throw new ArgumentException($"The prediction type must be v_prediction or epsilon, got '{value}'.");
    } = "v_prediction";
    /// <summary>
    /// Share of each batch (joint and polish stages) whose timesteps are drawn from the noisiest ones (from
    /// <see cref="HighNoiseFrom"/> up) rather than uniformly. The sampler lays out the picture there, from noise that
    /// says nothing of the place: only the caption's position words can. This share alone did not teach them in 2,500
    /// steps (nor did 6,000 uniform ones); the layout stage does.
    /// </summary>
    public double HighNoiseShare { get; init; } = 0.5;
    public int HighNoiseFrom { get; init; } = 700;
    /// <summary>
    /// Steps of the layout stage, after the joint one: only timesteps from <see cref="LayoutFrom"/> up, at a constant
    /// <see cref="LayoutLearningRate"/>. The sampler lays the picture out in its first steps, from noise that says
    /// nothing of the place. On 16 × 16 latents the noisy training inputs do say it down to the noisiest timesteps (a
    /// large shape covers ~36 latent pixels, whose mean rises above the noise), so a model trained on them reads the
    /// place from the noise and, from a seed's pure noise, draws the shape where that noise happens to suggest: after
    /// 1,820 steps on timesteps ≥ 800 it still put 3 of 48 shapes in the asked cell.
    /// </summary>
    public int LayoutSteps { get; init; } = 1000;
    public double LayoutLearningRate { get; init; } = 3e-4;
    public int LayoutFrom { get; init; } = 950;
    /// <summary>
    /// Share of the layout stage's batch at the last timestep, whose input under zero terminal SNR is pure noise: the
    /// model's only clue to the place there is the caption. 400 such steps taught the position words that 1,820 steps
    /// of the noisiest fifth of timesteps had not.
    /// </summary>
    public double LayoutLastStepShare { get; init; } = 0.5;
    /// <summary>
    /// Steps of the last stage: the joint stage's timesteps again at <see cref="PolishLearningRate"/>, so the detail the
    /// layout stage never saw stays learned, with <see cref="PolishLastStepShare"/> of the batch at the last timestep
    /// so the place stays learned too.
    /// </summary>
    public int PolishSteps { get; init; } = 1500;
    public double PolishLearningRate { get; init; } = 1e-4;
    public double PolishLastStepShare { get; init; } = 0.1;
    /// <summary>
    /// Spread of the text encoder's initial token embeddings. transformers starts CLIP from N(0, 0.02); this model's
    /// 32-wide text encoder, trained from those, gave "circle" and "square" nearly the same hidden states (distance 1.1
    /// against 32–37 for "triangle" and "star": the two words' embeddings never moved apart), so the UNet drew both as
    /// the same rounded shape and 31 of 48 held-out captions came out in the asked shape. Started from N(0, 0.5) the
    /// words begin far apart, stay apart (distance 8.1), and 41 of 48 come out right (both at guidance 3).
    /// </summary>
    public double TokenEmbeddingStd { get; init; } = 0.5;
    /// <summary>Share of captions replaced by "" so classifier-free guidance has an unconditional model.</summary>
    public double CaptionDropout { get; init; } = 0.1;
    public double EmaDecay { get; init; } = 0.998;
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Seconds between checkpoints.</summary>
    public int CheckpointSeconds { get; init; } = 180;
    public int LogEvery { get; init; } = 50;
    public int Threads { get; init; } = 2;

    /// <summary>A few steps of each stage on a small pool: checks the tool end to end in seconds.</summary>
    public TrainOptions AsSmoke() => this with
    {
        VaeSteps = 3,
        VaeBatchSize = 4,
        LatentPoolSize = 16,
        UnetSteps = 3,
        LayoutSteps = 2,
        PolishSteps = 2,
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
            UnetLearningRate, TokenEmbeddingStd, PredictionType, HighNoiseShare, HighNoiseFrom,
            LayoutLearningRate, LayoutFrom, LayoutLastStepShare, PolishLearningRate, PolishLastStepShare, CaptionDropout, EmaDecay, WarmupSteps);
}
