using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>
/// A <c>redis-server</c> of the test's own on a free loopback port, with its append-only file in a temporary folder
/// (no RDB snapshots), so a test can stop and restart it and find what was accepted before.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private Process? _process;

    private RedisServer(int port, string directory)
    {
        Port = port;
        Directory = directory;
    }

    public int Port { get; }

    public string Directory { get; }

    public string Address => $"127.0.0.1:{Port}";

    public static RedisServer Start()
    {
        var directory = Path.Combine(Path.GetTempPath(), "diffuse-redis-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var server = new RedisServer(FreePort(), directory);
        server.Run();
        return server;
    }

    /// <summary>Starts the server again on the same port and folder; it reloads its append-only file.</summary>
    public void Run()
    {
        if (_process is { HasExited: false }) throw new InvalidOperationException("redis-server is already running.");
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", Directory },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("These tests need redis-server on the PATH (Debian: apt-get install redis-server).", e);
        }
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!Answers())
        {
            if (_process.HasExited) throw new InvalidOperationException($"redis-server exited with code {_process.ExitCode} on port {Port}.");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"redis-server did not answer on port {Port}.");
            Thread.Sleep(50);
        }
    }

    /// <summary>Stops the server as an operator would (SIGTERM: it flushes its append-only file and exits).</summary>
    public void Stop()
    {
        if (_process is not { HasExited: false } process) return;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) kill.WaitForExit();
        if (!process.WaitForExit(20_000)) process.Kill();
        process.WaitForExit();
        process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false }) _process.Kill();
        _process?.WaitForExit();
        _process?.Dispose();
        _process = null;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temporary folder.
        }
    }

    private bool Answers()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, Port);
            using var stream = client.GetStream();
            stream.Write("PING\r\n"u8);
            var buffer = new byte[64];
            var n = stream.Read(buffer);
            return n > 0 && buffer[0] == (byte)'+';
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
