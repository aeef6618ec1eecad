namespace DiffusersSharp.Serving;

/// <summary>Recognises out-of-memory failures: libtorch's (TorchSharp surfaces them as exceptions carrying its message) and .NET's.</summary>
public static class OutOfMemory
{
    public static bool IsOutOfMemory(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is OutOfMemoryException) return true;
            if (x.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)
                || x.Message.Contains("can't allocate memory", StringComparison.OrdinalIgnoreCase)
                || x.Message.Contains("DefaultCPUAllocator", StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
