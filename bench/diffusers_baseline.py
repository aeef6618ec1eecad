"""diffusers' own numbers for the rows the CUDA benchmark measures, taken in the same run on the same GPU.

    python3 bench/diffusers_baseline.py --tokenizer tests/fixtures/models/tiny-sd/tokenizer --json out.json

Builds Stable Diffusion 1.5's architecture from bench/configs/sd15 with random weights (speed does not depend on
them) and measures, each stage in a process of its own as the C# benchmark does: the UNet step with guidance
(batch 2, 512²), a whole 50-step Euler generation at 512² (text encoder and VAE decode included, PIL images out),
and the same under enable_model_cpu_offload. Timing: one warm-up run, then the median of the repeats. Peak device
memory both as torch.cuda.max_memory_allocated and as nvidia-smi's memory.used sampled every 20 ms above the
value before the stage (the C# benchmark can only read the latter). Needs torch, transformers and diffusers.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

PROMPT = "a photograph of an astronaut riding a horse"
STAGES = {"unet": 20, "generate": 3, "generate-offload": 2}


def nvidia_smi_used_mib():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True, timeout=5).stdout
        return int(out.split()[0])
    except Exception:
        return None


class SmiSampler:
    def __init__(self):
        self.baseline = nvidia_smi_used_mib()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            used = nvidia_smi_used_mib()
            if used is not None and self.peak is not None:
                self.peak = max(self.peak, used)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return None if self.baseline is None else self.peak - self.baseline


def median_seconds(repeats, run, synchronize):
    run()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_stage(stage, args):
    sampler = SmiSampler()
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    configs = args.configs

    def config(name, file="config.json"):
        with open(os.path.join(configs, name, file)) as f:
            return json.load(f)

    torch.manual_seed(0)
    with torch.no_grad():
        unet = UNet2DConditionModel.from_config(config("unet")).to(dtype).eval()
        if stage == "unet":
            unet.to(device)
            generator = torch.Generator("cpu").manual_seed(0)
            sample = torch.randn(2, 4, 64, 64, generator=generator).to(device, dtype)
            context = torch.randn(2, 77, 768, generator=generator).to(device, dtype)
            timestep = torch.tensor(500, device=device)
            seconds = median_seconds(STAGES[stage], lambda: unet(sample, timestep, context), torch.cuda.synchronize)
            rate = f"{1 / seconds:.1f} UNet steps/s"
        else:
            pipe = StableDiffusionPipeline(
                vae=AutoencoderKL.from_config(config("vae")).to(dtype).eval(),
                text_encoder=CLIPTextModel(CLIPTextConfig(**config("text_encoder"))).to(dtype).eval(),
                tokenizer=CLIPTokenizer.from_pretrained(args.tokenizer),
                unet=unet,
                scheduler=EulerDiscreteScheduler.from_config(config("scheduler", "scheduler_config.json")),
                safety_checker=None, feature_extractor=None, requires_safety_checker=False)
            pipe.set_progress_bar_config(disable=True)
            if stage == "generate-offload":
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)

            def generate():
                pipe(PROMPT, height=512, width=512, num_inference_steps=50,
                     generator=torch.Generator("cpu").manual_seed(0), output_type="pil")

            seconds = median_seconds(STAGES[stage], generate, torch.cuda.synchronize)
            rate = f"{50 / seconds:.1f} steps/s"
    peak_smi = sampler.stop()
    return {"stage": stage, "dtype": args.dtype, "seconds": seconds, "rate": rate,
            "max_memory_allocated_mib": torch.cuda.max_memory_allocated(device) / 2**20,
            "max_memory_reserved_mib": torch.cuda.max_memory_reserved(device) / 2**20,
            "peak_nvidia_smi_mib": peak_smi,
            "torch": torch.__version__, "diffusers": __import__("diffusers").__version__,
            "gpu": torch.cuda.get_device_name(device)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "sd15"))
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--stage", choices=list(STAGES))
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args)))
        return 0
    rows, failed = [], False
    for stage in STAGES:
        command = [sys.executable, os.path.abspath(__file__), "--stage", stage, "--configs", args.configs,
                   "--tokenizer", args.tokenizer, "--device", args.device, "--dtype", args.dtype]
        child = subprocess.run(command, capture_output=True, text=True)
        if child.returncode != 0:
            failed = True
            print(f"{stage}: failed (exit {child.returncode})\n{child.stderr[-3000:]}", flush=True)
            continue
        row = json.loads(child.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"diffusers {row['diffusers']} {stage} {row['dtype']}: {row['seconds'] * 1000:.1f} ms ({row['rate']}), "
              f"max_memory_allocated {row['max_memory_allocated_mib'] / 1024:.2f} GiB, "
              f"nvidia-smi peak {row['peak_nvidia_smi_mib'] / 1024 if row['peak_nvidia_smi_mib'] is not None else float('nan'):.2f} GiB",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
