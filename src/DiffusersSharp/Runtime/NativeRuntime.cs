using System.Runtime.InteropServices;
using TorchSharp;

namespace DiffusersSharp.Runtime;

/// <summary>
/// Makes sure libtorch is loadable before any model code runs, and turns the runtime's long loader error into one
/// message that says what is missing and how to fix it.
/// </summary>
public static class NativeRuntime
{
    private static readonly Lazy<Exception?> LoadError = new(TryLoad);

    /// <summary>Throws <see cref="NativeRuntimeException"/> with a fix when libtorch cannot be loaded here.</summary>
    public static void EnsureLoaded()
    {
        if (LoadError.Value is { } e) throw new NativeRuntimeException(Explain(e), e);
    }

    /// <summary>
    /// Lets float32 matrix multiplications (cuBLAS) and convolutions (cuDNN) on NVIDIA GPUs of the Ampere generation or
    /// newer use TF32 tensor cores: PyTorch's <c>torch.backends.cuda.matmul.allow_tf32</c> and
    /// <c>torch.backends.cudnn.allow_tf32</c> together. Faster, with a 10-bit mantissa in the products, so float32 results
    /// no longer match the CPU's to float32 precision. libtorch-wide: it applies to every model of the process.
    /// Without a call, libtorch's defaults (PyTorch's) hold: matmuls in full float32, cuDNN convolutions in TF32.
    /// Harmless on the CPU and on builds without CUDA.
    /// </summary>
    public static void AllowTf32(bool allow)
    {
        EnsureLoaded();
        torch.backends.cuda.matmul.allow_tf32 = allow;
        torch.backends.cudnn.allow_tf32 = allow;
    }

    /// <summary>Whether float32 matmuls may use TF32 (PyTorch's <c>torch.backends.cuda.matmul.allow_tf32</c>).</summary>
    public static bool MatmulAllowsTf32
    {
        get
        {
            EnsureLoaded();
            return torch.backends.cuda.matmul.allow_tf32;
        }
    }

    /// <summary>Whether cuDNN convolutions may use TF32 (PyTorch's <c>torch.backends.cudnn.allow_tf32</c>).</summary>
    public static bool ConvolutionsAllowTf32
    {
        get
        {
            EnsureLoaded();
            return torch.backends.cudnn.allow_tf32;
        }
    }

    /// <summary>
    /// Whether CPU convolutions may use oneDNN (MKL-DNN) kernels: PyTorch's <c>torch.backends.mkldnn.enabled</c>,
    /// which TorchSharp does not expose. On by default. libtorch 2.10's oneDNN convolution backward returned wrong input
    /// gradients on one machine here (50–80 % off, sometimes NaN, for two stacked 3 × 3 convolutions; right with it off;
    /// not reproduced on a later machine of the same kind), so the demo trainer turns it off; inference is unaffected
    /// (the forward passes match diffusers). Process-wide. Linux only.
    /// </summary>
    public static bool MkldnnEnabled
    {
        get
        {
            EnsureLoaded();
            return AtenContext.MkldnnEnabled;
        }
        set
        {
            EnsureLoaded();
            AtenContext.MkldnnEnabled = value;
        }
    }

    /// <summary>
    /// Whether CPU convolutions may try NNPACK: PyTorch's <c>torch.backends.nnpack.enabled</c>. Off once libtorch is
    /// loaded here (PyTorch's default is on), because on CPUs NNPACK does not support libtorch warns on every
    /// convolution that asks for it; turn it on only with <see cref="MkldnnEnabled"/> off and a CPU NNPACK supports.
    /// Process-wide. Linux only.
    /// </summary>
    public static bool NnpackEnabled
    {
        get
        {
            EnsureLoaded();
            return AtenContext.NnpackEnabled;
        }
        set
        {
            EnsureLoaded();
            AtenContext.NnpackEnabled = value;
        }
    }

    private static Exception? TryLoad()
    {
        try
        {
            EnableHugePageAllocations();
            UseExpandableCudaSegments();
            // Any call into libtorch forces TorchSharp to load its native libraries.
            using var probe = torch.zeros(1);
            TurnOffNnpack();
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or NotSupportedException or BadImageFormatException)
        {
            return e;
        }
    }

    /// <summary>
    /// libtorch 2.10 asks for NNPACK on every CPU convolution that oneDNN does not take (batch 1, small inputs) and,
    /// on a CPU NNPACK does not support, warns each time ("Could not initialize NNPACK!"): hundreds of lines for one
    /// 64 × 64 picture. With oneDNN on, NNPACK is never chosen anyway (it needs a batch of 16, which oneDNN takes first),
    /// so turning it off changes no kernel; <see cref="NnpackEnabled"/> turns it back on.
    /// </summary>
    private static void TurnOffNnpack()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            AtenContext.NnpackEnabled = false;
        }
        catch (PlatformNotSupportedException)
        {
            // A libtorch without the switch only keeps its warnings; it must not fail to load over them.
        }
    }

    /// <summary>
    /// Asks libtorch's CPU allocator to back large tensors with transparent huge pages (its
    /// <c>THP_MEM_ALLOC_ENABLE</c> switch), unless the environment already sets the switch. Every large activation
    /// is fresh memory that the kernel maps page by page on first touch; with 2 MiB pages instead of 4 KiB ones that
    /// costs 512 times fewer faults, which made a 200 MB copy 20 times faster on a 2-core VM (bench/README.md).
    /// libtorch reads the switch once, at its first allocation, so this only works before any tensor exists.
    /// </summary>
    private static void EnableHugePageAllocations() => SetNativeDefault("THP_MEM_ALLOC_ENABLE", "1");

    /// <summary>
    /// Asks libtorch's CUDA caching allocator for expandable segments (<c>PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True</c>)
    /// unless the environment configures the allocator itself. Under model CPU offload, diffusers (through accelerate)
    /// empties the allocator's cache each time a model goes back to the CPU; TorchSharp 0.107 has no
    /// <c>torch.cuda.empty_cache</c>, so the freed weights stayed reserved in blocks too small for the next model's
    /// activations. Expandable segments let those activations reuse the freed memory: on an H200, SD 1.5 at 512² under
    /// offload peaked at 2.76 GiB instead of 3.79 (diffusers: 2.57), and 3.82 instead of 4.06 GiB without offload
    /// (bench/README.md). libtorch reads the setting at its first CUDA allocation; it does nothing on the CPU.
    /// </summary>
    private static void UseExpandableCudaSegments()
    {
        // PyTorch also reads the allocator's settings from PYTORCH_ALLOC_CONF; a user who sets that one keeps it.
        if (Environment.GetEnvironmentVariable("PYTORCH_ALLOC_CONF") is null)
            SetNativeDefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True");
    }

    /// <summary>
    /// Sets an environment variable libtorch reads, unless the environment already has it. .NET keeps its own copy of
    /// the environment; libtorch reads the C library's, so this sets that one (Linux only).
    /// </summary>
    private static void SetNativeDefault(string name, string value)
    {
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable(name) is null)
            _ = setenv(name, value, 0);
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);

    private static string Explain(Exception e)
    {
        var text = e.ToString();
        if (text.Contains("GLIBCXX_3.4.32") || text.Contains("GLIBCXX"))
            return "TorchSharp's native library needs libstdc++ with GLIBCXX_3.4.32 (GCC 13 or newer), and this system's is older. " +
                   "On Debian 12 run scripts/setup-native.sh (it installs libstdc++6 from Debian 13); elsewhere install a libstdc++ from GCC 13+.";
        return "TorchSharp could not load libtorch: " + FirstLine(e) +
               " Check that the TorchSharp-cpu package's native files are next to the program, or, for an external libtorch, that LD_LIBRARY_PATH points at its lib folder. " +
               "On Debian 12, also run scripts/setup-native.sh (libstdc++ with GLIBCXX_3.4.32).";
    }

    private static string FirstLine(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        return inner.Message.Split('\n')[0].Trim();
    }
}

public sealed class NativeRuntimeException(string message, Exception inner) : Exception(message, inner);
