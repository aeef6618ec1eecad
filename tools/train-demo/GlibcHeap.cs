using System.Runtime.InteropServices;

namespace DiffusersSharp.TrainDemo;

/// <summary>
/// Keeps freed memory in the C heap for reuse. A training step frees and reallocates the same few-MB activations and
/// gradients; with glibc's defaults each of them is a fresh <c>mmap</c> whose pages the kernel zeroes and faults in
/// again, which here cost 12,000–18,000 page faults a second, 40 % system time, and made the VAE stage 4 times slower
/// (1.97 against 7.85 steps/s, measured with the same settings through glibc's MALLOC_* environment variables).
/// </summary>
public static class GlibcHeap
{
    private const int TrimThreshold = -1;
    private const int TopPad = -2;
    private const int MmapThreshold = -3;

    /// <summary>Serves blocks up to 32 MiB (glibc's largest heap threshold) from the heap and never trims it. Linux only; elsewhere a no-op.</summary>
    public static void KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux()) return;
        _ = mallopt(MmapThreshold, 32 << 20);
        _ = mallopt(TrimThreshold, int.MaxValue);
        _ = mallopt(TopPad, 256 << 20);
    }

    [DllImport("libc")]
    private static extern int mallopt(int parameter, int value);
}
