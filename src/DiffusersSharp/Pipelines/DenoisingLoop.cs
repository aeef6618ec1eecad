using DiffusersSharp.Models;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>The denoising loop every UNet pipeline (Stable Diffusion 1.x/2.x, ControlNet, SDXL) runs.</summary>
public static class DenoisingLoop
{
    /// <summary>
    /// At each timestep: the UNet's prediction for the scaled latents (doubled for guidance), classifier-free guidance,
    /// a scheduler step, the step-end callback. Takes ownership of <paramref name="latents"/> and returns the final
    /// latents in the caller's dispose scope.
    /// </summary>
    /// <param name="timesteps">The timesteps to run: a contiguous run of the scheduler's, starting at its <paramref name="firstStep"/>-th.</param>
    /// <param name="firstStep">
    /// Where <paramref name="timesteps"/> start in <see cref="SchedulerMixin.Timesteps"/>: each step passes the scheduler
    /// the host value of its timestep from there, so no step reads a timestep back from the device.
    /// </param>
    /// <param name="promptEmbeds">[uncond; cond] with guidance, else cond alone.</param>
    /// <param name="extendModelInput">Adds conditioning channels to the scaled model input (inpainting's mask and masked image).</param>
    /// <param name="unetExtras">
    /// The UNet's extra arguments for a step, from the step index, the timestep, the latents and the scaled model input
    /// (SDXL's added conditions, the ControlNets' residuals); tensors it makes belong to the step.
    /// </param>
    /// <param name="afterStep">Adjusts the stepped latents before the callback sees them (inpainting's latent blending).</param>
    public static Tensor Run(UNet2DConditionModel unet, SchedulerMixin scheduler, Tensor latents, Tensor timesteps, int firstStep, Tensor promptEmbeds,
        bool doCfg, StableDiffusionInputBase input, Generator? generator, CancellationToken cancellationToken,
        Func<Tensor, Tensor>? extendModelInput = null, Func<int, Tensor, Tensor, Tensor, UNet2DConditionExtras>? unetExtras = null,
        Func<int, Tensor, Tensor>? afterStep = null)
    {
        var total = (int)timesteps.shape[0];
        if (firstStep < 0 || firstStep + total > scheduler.TimestepValues.Count)
            throw new ArgumentOutOfRangeException(nameof(firstStep), firstStep, $"{total} timesteps from {firstStep} do not fit the scheduler's {scheduler.TimestepValues.Count}.");
        for (var i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var t = timesteps[i];
            var timestep = new SchedulerTimestep(t, scheduler.TimestepValues[firstStep + i]);
            var modelInput = scheduler.ScaleModelInput(doCfg ? cat([latents, latents]) : latents, timestep);
            if (extendModelInput is not null) modelInput = extendModelInput(modelInput);
            var noisePred = unet.Forward(modelInput, t, promptEmbeds, unetExtras?.Invoke(i, t, latents, modelInput));
            if (doCfg) noisePred = Guidance.Apply(noisePred, input.GuidanceScale, input.GuidanceRescale);
            var next = scheduler.Step(noisePred, timestep, latents, generator, input.Eta).PrevSample;
            if (afterStep is not null) next = afterStep(i, next);
            next = StepEnd.Invoke(input.CallbackOnStepEnd, i, total, t, next);
            next.MoveToOuterDisposeScope();
            latents.Dispose();
            latents = next;
        }
        return latents;
    }
}
