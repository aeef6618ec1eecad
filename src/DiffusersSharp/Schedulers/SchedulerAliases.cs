using System.Text.Json.Nodes;

namespace DiffusersSharp.Schedulers;

/// <summary>A short scheduler name users know ("DPM++ 2M Karras" → <c>dpm++2m-karras</c>) and the diffusers class and options it stands for.</summary>
public sealed record SchedulerAlias(string Name, string ClassName, IReadOnlyDictionary<string, JsonNode> Options, string Description);

/// <summary>
/// The sampler names of other tools mapped to diffusers schedulers, following the table in diffusers' scheduler
/// documentation. Options are applied on top of the model's own scheduler config, as <c>from_config(config, **options)</c>.
/// </summary>
public static class SchedulerAliases
{
    private static SchedulerAlias A(string name, string cls, string description, params (string Key, JsonNode Value)[] options) =>
        new(name, cls, options.ToDictionary(o => o.Key, o => o.Value), description);

    private static readonly JsonNode Karras = JsonValue.Create(true);

    public static IReadOnlyList<SchedulerAlias> All { get; } =
    [
        A("ddim", "DDIMScheduler", "DDIM"),
        A("ddpm", "DDPMScheduler", "DDPM (ancestral, 1000-step trained schedule)"),
        A("pndm", "PNDMScheduler", "PNDM / PLMS, Stable Diffusion's default"),
        A("lms", "LMSDiscreteScheduler", "LMS"),
        A("lms-karras", "LMSDiscreteScheduler", "LMS Karras", ("use_karras_sigmas", Karras)),
        A("euler", "EulerDiscreteScheduler", "Euler"),
        A("euler-karras", "EulerDiscreteScheduler", "Euler Karras", ("use_karras_sigmas", Karras)),
        A("euler-a", "EulerAncestralDiscreteScheduler", "Euler a"),
        A("heun", "HeunDiscreteScheduler", "Heun"),
        A("dpm2", "KDPM2DiscreteScheduler", "DPM2"),
        A("dpm2-karras", "KDPM2DiscreteScheduler", "DPM2 Karras", ("use_karras_sigmas", Karras)),
        A("dpm2-a", "KDPM2AncestralDiscreteScheduler", "DPM2 a"),
        A("dpm2-a-karras", "KDPM2AncestralDiscreteScheduler", "DPM2 a Karras", ("use_karras_sigmas", Karras)),
        A("dpm++2m", "DPMSolverMultistepScheduler", "DPM++ 2M", ("algorithm_type", "dpmsolver++"), ("solver_order", 2)),
        A("dpm++2m-karras", "DPMSolverMultistepScheduler", "DPM++ 2M Karras", ("algorithm_type", "dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", Karras)),
        A("dpm++2m-sde", "DPMSolverMultistepScheduler", "DPM++ 2M SDE", ("algorithm_type", "sde-dpmsolver++"), ("solver_order", 2)),
        A("dpm++2m-sde-karras", "DPMSolverMultistepScheduler", "DPM++ 2M SDE Karras", ("algorithm_type", "sde-dpmsolver++"), ("solver_order", 2), ("use_karras_sigmas", Karras)),
        A("dpm++3m", "DPMSolverMultistepScheduler", "DPM++ 3M", ("algorithm_type", "dpmsolver++"), ("solver_order", 3)),
        A("dpm++2s", "DPMSolverSinglestepScheduler", "DPM++ 2S"),
        A("dpm++2s-karras", "DPMSolverSinglestepScheduler", "DPM++ 2S Karras", ("use_karras_sigmas", Karras)),
        A("unipc", "UniPCMultistepScheduler", "UniPC"),
        A("deis", "DEISMultistepScheduler", "DEIS"),
        A("lcm", "LCMScheduler", "LCM (for LCM-distilled models and LoRAs, 2-8 steps)"),
        A("tcd", "TCDScheduler", "TCD"),
        A("flow-euler", "FlowMatchEulerDiscreteScheduler", "Flow-matching Euler (SD3, Flux)"),
    ];

    /// <summary>The alias named <paramref name="name"/> (case-insensitive), or null when it is not an alias.</summary>
    public static SchedulerAlias? Find(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase));
}
