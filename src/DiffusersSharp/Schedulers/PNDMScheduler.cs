using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Pseudo numerical methods for diffusion models (https://huggingface.co/papers/2202.09778): Runge-Kutta (PRK) warm-up
/// steps followed by linear multistep (PLMS) steps; Stable Diffusion's default with <c>skip_prk_steps</c>.
/// </summary>
public sealed class PNDMScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("skip_prk_steps", false), ("set_alpha_to_one", false), ("prediction_type", "epsilon"),
        ("timestep_spacing", "leading"), ("steps_offset", 0),
    ];

    // F-PNDM: four model evaluations per Runge-Kutta step.
    private const int PndmOrder = 4;

    private readonly int _numTrainTimesteps;
    private readonly bool _skipPrkSteps;
    private readonly bool _vPrediction;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly float[] _alphasCumprod;
    private readonly float _finalAlphaCumprod;

    private long[] _prkTimesteps = [];
    private int _counter;
    private readonly List<Tensor> _ets = new();
    private Tensor? _curModelOutput;
    private Tensor? _curSample;

    public PNDMScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        _vPrediction = RequireOneOf("prediction_type", "epsilon", "v_prediction") == "v_prediction";
        _timestepSpacing = RequireOneOf("timestep_spacing", "leading", "linspace", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _skipPrkSteps = Config.GetBool("skip_prk_steps", false);
        _stepsOffset = Config.GetInt("steps_offset", 0);

        _alphasCumprod = AlphasCumprod(Config);
        _finalAlphaCumprod = Config.GetBool("set_alpha_to_one", false) ? 1f : _alphasCumprod[0];
    }

    public override string ClassName => "PNDMScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        var ts = _timestepSpacing switch
        {
            "linspace" => NumPyCompat.ToInt64(NumPyCompat.Round(LinspaceSpacing(_numTrainTimesteps - 1, n))),
            "leading" => NumPyCompat.ToInt64(LeadingSpacing(_numTrainTimesteps, n, _stepsOffset)),
            _ => NumPyCompat.ToInt64(NumPyCompat.Reverse(TrailingSpacing(_numTrainTimesteps, _numTrainTimesteps, n))),
        };

        long[] plms;
        if (_skipPrkSteps)
        {
            // crowsonkb's PLMS (https://github.com/CompVis/latent-diffusion/pull/51): the second-to-last timestep is
            // repeated, as the second step corrects the first.
            _prkTimesteps = [];
            plms = ts[..^1].Concat(ts.Length >= 2 ? ts[^2..^1] : []).Concat(ts[^1..]).Reverse().ToArray();
        }
        else
        {
            if (ts.Length < PndmOrder)
                throw new ArgumentException(
                    $"PNDMScheduler with skip_prk_steps=false needs at least {PndmOrder} inference steps for its Runge-Kutta warm-up, got {n} " +
                    "(diffusers fails too: operands could not be broadcast together).", nameof(numInferenceSteps));
            var half = _numTrainTimesteps / n / 2;
            var lastFour = ts[^PndmOrder..];
            var prk = lastFour.SelectMany(t => new[] { t, t + half }).ToArray();
            _prkTimesteps = prk[..^1].SelectMany(t => new[] { t, t }).ToArray()[1..^1].Reverse().ToArray();
            plms = ts[..^3].Reverse().ToArray();
        }

        SetTimestepsTensor(tensor(_prkTimesteps.Concat(plms).ToArray(), ScalarType.Int64), device);
        NumInferenceSteps = n;
        ResetHistory();
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var prev = _counter < _prkTimesteps.Length && !_skipPrkSteps
            ? StepPrk(modelOutput, TimestepValue(timestep), sample)
            : StepPlms(modelOutput, TimestepValue(timestep), sample);
        return new SchedulerOutput(prev.MoveToOuterDisposeScope(), null);
    }

    /// <summary>Runge-Kutta step: four model evaluations (counter mod 4) approximate one step.</summary>
    private Tensor StepPrk(Tensor modelOutput, long timestep, Tensor sample)
    {
        var diffToPrev = _counter % 2 == 1 ? 0 : _numTrainTimesteps / NumInferenceSteps / 2;
        var prevTimestep = timestep - diffToPrev;
        var t = _prkTimesteps[_counter / 4 * 4];

        switch (_counter % 4)
        {
            case 0:
                SetCurModelOutput(modelOutput * (1.0 / 6));
                _ets.Add(Keep(modelOutput.clone()));
                SetCurSample(sample.clone());
                break;
            case 1:
            case 2:
                SetCurModelOutput(_curModelOutput! + modelOutput * (1.0 / 3));
                break;
            default:
                modelOutput = _curModelOutput! + modelOutput * (1.0 / 6);
                SetCurModelOutput(null);
                break;
        }

        var prev = PrevSample(_curSample ?? sample, t, prevTimestep, modelOutput);
        _counter++;
        return prev;
    }

    /// <summary>Linear multistep step: one model evaluation, combined with up to three earlier ones.</summary>
    private Tensor StepPlms(Tensor modelOutput, long timestep, Tensor sample)
    {
        if (!_skipPrkSteps && _ets.Count < 3)
            throw new InvalidOperationException("PNDMScheduler can only run PLMS steps after at least 12 Runge-Kutta (PRK) steps.");

        var stride = _numTrainTimesteps / NumInferenceSteps;
        var prevTimestep = timestep - stride;
        if (_counter != 1)
        {
            while (_ets.Count > 3)
            {
                Release(_ets[0]);
                _ets.RemoveAt(0);
            }
            _ets.Add(Keep(modelOutput.clone()));
        }
        else
        {
            prevTimestep = timestep;
            timestep += stride;
        }

        if (_ets.Count == 1 && _counter == 0)
        {
            SetCurSample(sample.clone());
        }
        else if (_ets.Count == 1 && _counter == 1)
        {
            modelOutput = (modelOutput + _ets[^1]) / 2;
            sample = _curSample!;
        }
        else if (_ets.Count == 2)
        {
            modelOutput = (_ets[^1] * 3 - _ets[^2]) / 2;
        }
        else if (_ets.Count == 3)
        {
            modelOutput = (_ets[^1] * 23 - _ets[^2] * 16 + _ets[^3] * 5) / 12;
        }
        else
        {
            modelOutput = (_ets[^1] * 55 - _ets[^2] * 59 + _ets[^3] * 37 - _ets[^4] * 9) * (1.0 / 24);
        }

        var prev = PrevSample(sample, timestep, prevTimestep, modelOutput);
        if (_ets.Count == 1 && _counter == 1) SetCurSample(null);
        _counter++;
        return prev;
    }

    /// <summary>x_(t−δ) from x_t, formula (9) of the PNDM paper.</summary>
    private Tensor PrevSample(Tensor sample, long timestep, long prevTimestep, Tensor modelOutput)
    {
        var alphaProdT = _alphasCumprod[timestep];
        var alphaProdTPrev = prevTimestep >= 0 ? _alphasCumprod[prevTimestep] : _finalAlphaCumprod;
        var betaProdT = 1 - alphaProdT;
        var betaProdTPrev = 1 - alphaProdTPrev;

        if (_vPrediction)
            modelOutput = modelOutput * MathF.Sqrt(alphaProdT) + sample * MathF.Sqrt(betaProdT);

        // (α_(t−δ) − α_t) / (sqrt(α_t) (sqrt(α_(t−δ)) + sqrt(α_t))) + 1 simplifies to sqrt(α_(t−δ) / α_t).
        var sampleCoeff = MathF.Sqrt(alphaProdTPrev / alphaProdT);
        var modelOutputDenomCoeff = alphaProdT * MathF.Sqrt(betaProdTPrev) + MathF.Sqrt(alphaProdT * betaProdT * alphaProdTPrev);
        return sample * sampleCoeff - modelOutput * (alphaProdTPrev - alphaProdT) / modelOutputDenomCoeff;
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphasCumprod(_alphasCumprod, originalSamples, noise, timesteps);

    private void SetCurModelOutput(Tensor? value) => Replace(ref _curModelOutput, value);

    private void SetCurSample(Tensor? value) => Replace(ref _curSample, value);

    private void ResetHistory()
    {
        foreach (var e in _ets) Release(e);
        _ets.Clear();
        _counter = 0;
        SetCurModelOutput(null);
        SetCurSample(null);
    }
}
