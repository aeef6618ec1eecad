using System.Runtime.InteropServices;

namespace DiffusersSharp.Runtime;

/// <summary>
/// libtorch's global <c>at::Context</c> switches that TorchSharp does not wrap, called through their exported C++
/// symbols (Itanium ABI, as GCC builds libtorch on Linux; the object is the first argument).
/// </summary>
internal static class AtenContext
{
    private const string Library = "libtorch_cpu";

    [DllImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledMkldnn(IntPtr context);

    [DllImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledNNPACK(IntPtr context);

    [DllImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNNPACK(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    public static bool NnpackEnabled
    {
        get => Call(() => UserEnabledNNPACK(GlobalContext()));
        set => Call(() => { SetUserEnabledNNPACK(GlobalContext(), value); return true; });
    }

    public static bool MkldnnEnabled
    {
        get => Call(() => UserEnabledMkldnn(GlobalContext()));
        set => Call(() => { SetUserEnabledMkldnn(GlobalContext(), value); return true; });
    }

    private static T Call<T>(Func<T> call)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("Switching libtorch's convolution back ends is only wired up on Linux.");
        try
        {
            return call();
        }
        catch (EntryPointNotFoundException e)
        {
            throw new PlatformNotSupportedException($"This libtorch does not export this at::Context switch ({e.Message}).", e);
        }
    }
}
