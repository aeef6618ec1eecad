using OpenQA.Selenium.Chrome;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Debian's chromium driven by its chromedriver, headless and with everything that would reach the network off.</summary>
internal static class HeadlessChromium
{
    public const string Browser = "/usr/bin/chromium";
    public const string Driver = "/usr/bin/chromedriver";

    public static ChromeDriver Start(string profileFolder, int width = 1100, int height = 760)
    {
        if (!File.Exists(Browser) || !File.Exists(Driver))
            throw new InvalidOperationException($"The browser test needs Debian's chromium and chromium-driver ({Browser}, {Driver}): apt-get install -y chromium chromium-driver (.ci/run does).");
        var options = new ChromeOptions { BinaryLocation = Browser };
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            $"--window-size={width},{height}", $"--user-data-dir={profileFolder}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }
}
