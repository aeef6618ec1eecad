using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Runtime;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tokenizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.TrainDemo;

/// <summary>
/// Trains the demo model in two stages on CPU with TorchSharp autograd: first the <see cref="AutoencoderKL"/> on
/// pictures (L1 + MSE reconstruction, a small KL term), then the <see cref="CLIPTextModel"/> and
/// <see cref="UNet2DConditionModel"/> together on the frozen VAE's latents with DDPM's loss (v- or epsilon-prediction) and
/// caption dropout. Checkpoints every few minutes; a re-run with the same options resumes. Weights train in float32
/// (bfloat16 does not pay on this CPU, see the model card).
/// </summary>
public sealed class DemoTrainer(TrainOptions options, Action<string> log)
{
    private const int MaxTokens = 77;
    private readonly ShapesDataset _data = new(options.Seed, DemoModelConfigs.ImageSize);

    /// <summary>Runs (or resumes) both stages and writes the pipeline folder; returns the final losses of each stage.</summary>
    public (double VaeLoss, double UnetLoss) Run()
    {
        set_num_threads(options.Threads);
        // libtorch 2.10's oneDNN convolution backward gave wrong input gradients on this machine kind (NativeRuntime.MkldnnEnabled).
        var mkldnn = NativeRuntime.MkldnnEnabled;
        NativeRuntime.MkldnnEnabled = false;
        try
        {
            return Train();
        }
        finally
        {
            NativeRuntime.MkldnnEnabled = mkldnn;
        }
    }

    private (double VaeLoss, double UnetLoss) Train()
    {
        Directory.CreateDirectory(options.CheckpointDirectory);
        var state = TrainState.Load(StatePath, options.Fingerprint());

        // Layers initialise from libtorch's global generator: seed it, so that a run's starting weights are its seed's.
        manual_seed(StepSeed(0, 0));
        using var vae = new AutoencoderKL(DemoModelConfigs.Vae());
        var vaeLoss = TrainVae(vae, state);
        log(VaeColourCheck(vae));

        manual_seed(StepSeed(0, 1));
        using var textEncoder = new CLIPTextModel(DemoModelConfigs.TextEncoder());
        using var unet = new UNet2DConditionModel(DemoModelConfigs.Unet());
        using var emaTextEncoder = new CLIPTextModel(DemoModelConfigs.TextEncoder());
        using var emaUnet = new UNet2DConditionModel(DemoModelConfigs.Unet());
        InitTextEmbeddings(textEncoder);
        CopyWeights(textEncoder, emaTextEncoder);
        CopyWeights(unet, emaUnet);
        var tokenizer = CLIPTokenizer.FromPretrained(options.TokenizerDirectory);
        var pool = LatentPool(vae, state);
        var unetLoss = TrainUnet(textEncoder, unet, emaTextEncoder, emaUnet, tokenizer, pool, state);
        pool.Mean.Dispose();
        pool.LogVar.Dispose();

        Save(vae, emaTextEncoder, tokenizer, emaUnet, state.ScalingFactor);
        return (vaeLoss, unetLoss);
    }

    private string StatePath => Path.Combine(options.CheckpointDirectory, "state.json");
    private string CheckpointFile(string name) => Path.Combine(options.CheckpointDirectory, name);

    private double TrainVae(AutoencoderKL vae, TrainState state)
    {
        var quantConv = Child(vae, "quant_conv");
        var postQuantConv = Child(vae, "post_quant_conv");
        var vaeParameters = vae.parameters().ToList();
        using var optimizer = optim.AdamW(vaeParameters, options.VaeLearningRate, weight_decay: 0.0);
        if (state.VaeStep > 0)
        {
            vae.load(CheckpointFile("vae.bin"));
            if (state.VaeStep < options.VaeSteps) optimizer.load_state_dict(CheckpointFile("vae-optimizer.bin"));
        }
        if (state.VaeStep >= options.VaeSteps)
        {
            log($"vae: done ({state.VaeStep} steps), loaded from checkpoint");
            return state.VaeLoss;
        }

        vae.train();
        var meter = new LossMeter("vae", options.VaeSteps, options.LogEvery, log, CheckpointFile("losses.csv"));
        var lastCheckpoint = Stopwatch.StartNew();
        using var generator = new Generator(0, CPU);
        for (var step = state.VaeStep; step < options.VaeSteps; step++)
        {
            using var scope = NewDisposeScope();
            generator.manual_seed(StepSeed(1, step));
            SetLearningRate(optimizer, WarmupCosine(options.VaeLearningRate, step, options.VaeSteps));
            var indices = Enumerable.Range(0, options.VaeBatchSize).Select(i => (long)step * options.VaeBatchSize + i).ToArray();
            var (images, _) = _data.Batch(indices);

            var noise = randn(images.shape[0], vae.LatentChannels, images.shape[2] / vae.VaeScaleFactor, images.shape[3] / vae.VaeScaleFactor, generator: generator);
            var loss = Backward(vaeParameters, step, "vae", () =>
            {
                var chunks = quantConv.forward(vae.Encoder.Forward(images)).chunk(2, 1);
                var mean = chunks[0];
                var logVar = chunks[1].clamp(-30.0, 20.0);
                var reconstruction = vae.Decoder.Forward(postQuantConv.forward(mean + (0.5 * logVar).exp() * noise));
                var kl = 0.5 * (mean.square() + logVar.exp() - 1 - logVar).mean();
                return (reconstruction - images).abs().mean() + (reconstruction - images).square().mean() + options.VaeKlWeight * kl;
            });
            if (loss is { } value)
            {
                optimizer.step();
                state.VaeLoss = meter.Add(step + 1, value);
            }

            if (step + 1 == options.VaeSteps || lastCheckpoint.Elapsed.TotalSeconds >= options.CheckpointSeconds)
            {
                vae.save(CheckpointFile("vae.bin"));
                optimizer.save_state_dict(CheckpointFile("vae-optimizer.bin"));
                state.VaeStep = step + 1;
                state.Save(StatePath);
                log($"vae: checkpoint at step {step + 1}");
                lastCheckpoint.Restart();
            }
        }
        return state.VaeLoss;
    }

    /// <summary>
    /// How well the VAE keeps what the captions name, on pictures it never trained on: the nearest palette colour of
    /// the reconstruction at the shape's centre and in the far corner, against the scene's shape and background colour.
    /// The UNet cannot draw a colour the decoder does not give back, so this bounds what the demo model can learn.
    /// </summary>
    private string VaeColourCheck(AutoencoderKL vae)
    {
        const int count = 96;
        var indices = Enumerable.Range(0, count).Select(i => (1L << 41) + i).ToArray();
        var scenes = indices.Select(_data.Scene).ToArray();
        vae.eval();
        float[] pixels;
        using (NewDisposeScope())
        {
            var (images, _) = _data.Batch(indices);
            // diffusers' forward: the posterior's mode, decoded.
            var reconstruction = vae.Forward(images);
            pixels = ((reconstruction.clamp(-1, 1) + 1) * 127.5).contiguous().data<float>().ToArray();
        }
        vae.train();
        var n = _data.ImageSize;
        DemoColour NearestAt(int picture, double x, double y)
        {
            var offset = picture * 3 * n * n + (int)y * n + (int)x;
            return DemoColour.Nearest(pixels[offset], pixels[offset + n * n], pixels[offset + 2 * n * n]);
        }
        int shapes = 0, backgrounds = 0, large = 0, largeShapes = 0;
        for (var i = 0; i < count; i++)
        {
            var scene = scenes[i];
            var kept = NearestAt(i, scene.CenterX, scene.CenterY) == scene.Colour;
            if (kept) shapes++;
            if (scene.Size == ShapeSize.Large) { large++; if (kept) largeShapes++; }
            var (cx, cy) = scene.Position.CenterIn(n);
            if (NearestAt(i, cx < n / 2 ? n - 2 : 1, cy < n / 2 ? n - 2 : 1) == scene.Background) backgrounds++;
        }
        return $"vae: on {count} unseen pictures the reconstruction keeps the shape's colour in {shapes} (large shapes {largeShapes} of {large}) and the background's in {backgrounds}";
    }

    /// <summary>
    /// Encodes <see cref="TrainOptions.LatentPoolSize"/> pictures once (their posterior mean and log-variance) and
    /// measures diffusers' <c>scaling_factor</c>: 1 / std of sampled latents.
    /// </summary>
    private (Tensor Mean, Tensor LogVar, ShapeScene[] Scenes) LatentPool(AutoencoderKL vae, TrainState state)
    {
        var scenes = Enumerable.Range(0, options.LatentPoolSize).Select(i => _data.Scene(PoolIndex(i))).ToArray();
        var poolPath = CheckpointFile("latent-pool.safetensors");
        if (state.ScalingFactor > 0 && File.Exists(poolPath))
        {
            using var file = SafetensorsFile.Open(poolPath);
            return (file.Read("mean"), file.Read("logvar"), scenes);
        }

        vae.eval();
        var means = new List<Tensor>();
        var logVars = new List<Tensor>();
        for (var start = 0; start < options.LatentPoolSize; start += 256)
        {
            using var scope = NewDisposeScope();
            var indices = Enumerable.Range(start, Math.Min(256, options.LatentPoolSize - start)).Select(i => PoolIndex(i)).ToArray();
            var (images, _) = _data.Batch(indices);
            using var posterior = vae.Encode(images);
            means.Add(posterior.Mean.clone().MoveToOuterDisposeScope());
            logVars.Add(posterior.LogVar.clone().MoveToOuterDisposeScope());
        }
        var mean = cat(means, 0);
        var logVar = cat(logVars, 0);
        means.ForEach(t => t.Dispose());
        logVars.ForEach(t => t.Dispose());
        using (var scope = NewDisposeScope())
        {
            using var generator = new Generator((ulong)StepSeed(2, 0), CPU);
            var sample = mean + (0.5 * logVar).exp() * randn(mean.shape, generator: generator);
            state.ScalingFactor = Math.Round(1.0 / sample.std().item<float>(), 5);
        }
        SafetensorsFile.Write(poolPath, [new("logvar", logVar), new("mean", mean)]);
        state.Save(StatePath);
        log($"latents: {options.LatentPoolSize} pictures encoded, scaling_factor {state.ScalingFactor.ToString(CultureInfo.InvariantCulture)}");
        return (mean, logVar, scenes);
    }

    private double TrainUnet(CLIPTextModel textEncoder, UNet2DConditionModel unet, CLIPTextModel emaTextEncoder,
        UNet2DConditionModel emaUnet, CLIPTokenizer tokenizer, (Tensor Mean, Tensor LogVar, ShapeScene[] Scenes) pool, TrainState state)
    {
        var parameters = textEncoder.parameters().Concat(unet.parameters()).ToList();
        var emaParameters = emaTextEncoder.parameters().Concat(emaUnet.parameters()).ToList();
        using var optimizer = optim.AdamW(parameters, options.UnetLearningRate, weight_decay: 0.01);
        if (state.UnetStep > 0)
        {
            textEncoder.load(CheckpointFile("text_encoder.bin"));
            unet.load(CheckpointFile("unet.bin"));
            emaTextEncoder.load(CheckpointFile("text_encoder-ema.bin"));
            emaUnet.load(CheckpointFile("unet-ema.bin"));
            if (state.UnetStep < TotalUnetSteps) optimizer.load_state_dict(CheckpointFile("unet-optimizer.bin"));
        }
        if (state.UnetStep >= TotalUnetSteps)
        {
            log($"unet: done ({state.UnetStep} steps), loaded from checkpoint");
            return state.UnetLoss;
        }

        using var noiseScheduler = new DDPMScheduler(DemoModelConfigs.TrainingScheduler(options.PredictionType));
        var trainTimesteps = noiseScheduler.Config.GetInt("num_train_timesteps", 1000);
        textEncoder.train();
        unet.train();
        var meter = new LossMeter("unet", TotalUnetSteps, options.LogEvery, log, CheckpointFile("losses.csv"));
        var lastCheckpoint = Stopwatch.StartNew();
        using var generator = new Generator(0, CPU);
        var batch = options.UnetBatchSize;
        for (var step = state.UnetStep; step < TotalUnetSteps; step++)
        {
            using var scope = NewDisposeScope();
            generator.manual_seed(StepSeed(3, step));
            var random = new Random((int)(StepSeed(4, step) & 0x7FFFFFFF));
            var (learningRate, highNoiseShare, highNoiseFrom, lastStepShare) = UnetStage(step);
            SetLearningRate(optimizer, learningRate);

            var slots = Enumerable.Range(0, batch).Select(_ => (long)random.Next(pool.Scenes.Length)).ToArray();
            var captions = slots.Select(s => random.NextDouble() < options.CaptionDropout ? "" : ShapesDataset.Caption(pool.Scenes[s], random)).ToArray();
            using var slotIndex = tensor(slots).clone();
            var mean = pool.Mean.index_select(0, slotIndex);
            var logVar = pool.LogVar.index_select(0, slotIndex);
            var latents = (mean + (0.5 * logVar).exp() * randn(mean.shape, generator: generator)) * state.ScalingFactor;

            using var idsView = tokenizer.CallTensor(captions, MaxTokens);
            var ids = idsView.clone();
            var timesteps = where(
                rand(batch, generator: generator) < highNoiseShare,
                randint(highNoiseFrom, trainTimesteps, [batch], dtype: ScalarType.Int64, generator: generator),
                randint(0, trainTimesteps, [batch], dtype: ScalarType.Int64, generator: generator));
            // Drawn only where used, so the joint stage's random stream (and so its weights) stays that of earlier runs.
            if (lastStepShare > 0)
                timesteps = where(rand(batch, generator: generator) < lastStepShare, full(batch, trainTimesteps - 1, dtype: ScalarType.Int64), timesteps);
            var noise = randn(latents.shape, generator: generator);
            var noisy = noiseScheduler.AddNoise(latents, noise, timesteps);
            // TrainOptions takes only these two.
            var target = options.PredictionType == "v_prediction" ? noiseScheduler.GetVelocity(latents, noise, timesteps) : noise;
            var loss = Backward(parameters, step, "unet", () =>
            {
                var hidden = textEncoder.Forward(ids).LastHiddenState;
                return nn.functional.mse_loss(unet.Forward(noisy, timesteps, hidden), target);
            });
            if (loss is { } value)
            {
                optimizer.step();
                UpdateEma(parameters, emaParameters, step);
                state.UnetLoss = meter.Add(step + 1, value);
            }

            if (step + 1 == TotalUnetSteps || lastCheckpoint.Elapsed.TotalSeconds >= options.CheckpointSeconds)
            {
                textEncoder.save(CheckpointFile("text_encoder.bin"));
                unet.save(CheckpointFile("unet.bin"));
                emaTextEncoder.save(CheckpointFile("text_encoder-ema.bin"));
                emaUnet.save(CheckpointFile("unet-ema.bin"));
                optimizer.save_state_dict(CheckpointFile("unet-optimizer.bin"));
                state.UnetStep = step + 1;
                state.Save(StatePath);
                log($"unet: checkpoint at step {step + 1}");
                lastCheckpoint.Restart();
            }
        }
        return state.UnetLoss;
    }

    /// <summary>Writes the StableDiffusionPipeline folder in float16 with the inference scheduler.</summary>
    private void Save(AutoencoderKL vae, CLIPTextModel textEncoder, CLIPTokenizer tokenizer, UNet2DConditionModel unet, double scalingFactor)
    {
        vae.Config["scaling_factor"] = scalingFactor;
        var scheduler = new DPMSolverMultistepScheduler(DemoModelConfigs.InferenceScheduler(options.PredictionType));
        var pipeline = new StableDiffusionPipeline(vae, textEncoder, tokenizer, unet, scheduler, DemoModelConfigs.ModelIndex());
        pipeline.To(dtype: ScalarType.Float16);
        if (Directory.Exists(options.OutputDirectory))
            Directory.Delete(options.OutputDirectory, recursive: true);
        pipeline.SavePretrained(options.OutputDirectory);
        pipeline.To(dtype: ScalarType.Float32);
        log($"saved {options.OutputDirectory}");
    }

    /// <summary>
    /// Computes the loss and its gradients, clipped to norm 1, and returns the loss; null (no update) when the
    /// gradients are not finite, as mixed-precision trainers skip an overflowing step. With oneDNN's convolutions off
    /// (see <see cref="Run"/>) no step of the published run was skipped.
    /// </summary>
    private float? Backward(IList<Parameter> parameters, int step, string stage, Func<Tensor> computeLoss)
    {
        using var scope = NewDisposeScope();
        foreach (var parameter in parameters) parameter.grad = null;
        var loss = computeLoss();
        loss.backward();
        var norm = nn.utils.clip_grad_norm_(parameters, 1.0);
        if (double.IsFinite(norm)) return loss.item<float>();
        log($"{stage}: step {step + 1} gave non-finite gradients ({norm}), skipped");
        return null;
    }

    private void UpdateEma(List<Parameter> parameters, List<Parameter> emaParameters, int step)
    {
        // diffusers' EMAModel warm-up: a short memory early on, so the average does not drag in the random init.
        var decay = Math.Min(options.EmaDecay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        // Scalars held here, not converted implicitly per call: TorchSharp passes a Scalar's native handle on without
        // keeping the object alive, so a temporary one can be finalized while libtorch still reads it (a run here
        // stopped after 40 minutes with a garbled Scalar in this add_).
        using var keep = decay.ToScalar();
        using var take = (1 - decay).ToScalar();
        for (var i = 0; i < parameters.Count; i++)
            emaParameters[i].mul_(keep).add_(parameters[i], alpha: take);
    }

    private int TotalUnetSteps => options.UnetSteps + options.LayoutSteps + options.PolishSteps;

    /// <summary>The learning rate and timestep mix of a denoiser step: the joint, layout or polish stage's.</summary>
    private (double LearningRate, double HighNoiseShare, int HighNoiseFrom, double LastStepShare) UnetStage(int step) =>
        step < options.UnetSteps ? (WarmupCosine(options.UnetLearningRate, step, options.UnetSteps), options.HighNoiseShare, options.HighNoiseFrom, 0)
        : step < options.UnetSteps + options.LayoutSteps ? (options.LayoutLearningRate, 1.0, options.LayoutFrom, options.LayoutLastStepShare)
        : (options.PolishLearningRate, options.HighNoiseShare, options.HighNoiseFrom, options.PolishLastStepShare);

    /// <summary>Linear warm-up, then cosine decay to a tenth of the peak.</summary>
    private double WarmupCosine(double peak, int step, int total) =>
        step < options.WarmupSteps
            ? peak * (step + 1) / options.WarmupSteps
            : peak * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * (step - options.WarmupSteps) / Math.Max(1, total - options.WarmupSteps))));

    private static void SetLearningRate(optim.Optimizer optimizer, double learningRate)
    {
        foreach (var group in optimizer.ParamGroups)
            group.LearningRate = learningRate;
    }

    /// <summary>
    /// The embeddings' starting spread: positions as transformers starts CLIP, tokens wider (see
    /// <see cref="TrainOptions.TokenEmbeddingStd"/>); TorchSharp's default N(0, 1) would be wider still.
    /// </summary>
    private void InitTextEmbeddings(CLIPTextModel textEncoder)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in textEncoder.named_parameters())
        {
            if (name.EndsWith("token_embedding.weight", StringComparison.Ordinal)) parameter.normal_(0, options.TokenEmbeddingStd);
            else if (name.EndsWith("position_embedding.weight", StringComparison.Ordinal)) parameter.normal_(0, 0.01);
        }
    }

    private static void CopyWeights(nn.Module source, nn.Module target)
    {
        using var noGrad = no_grad();
        foreach (var (s, t) in source.parameters().Zip(target.parameters()))
            t.copy_(s);
    }

    private static nn.Module<Tensor, Tensor> Child(nn.Module module, string name) =>
        module.named_children().First(c => c.name == name).module as nn.Module<Tensor, Tensor>
        ?? throw new InvalidOperationException($"{module.GetName()} has no {name} layer.");

    private long StepSeed(int stage, int step) => (long)options.Seed * 1_000_003L + stage * 100_000_007L + step;

    private static long PoolIndex(int i) => (1L << 40) + i;
}
