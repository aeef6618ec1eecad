using DiffusersSharp.Server.Tests.Support;
using DiffusersSharp.Serving;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Support.UI;
using SixLabors.ImageSharp;

namespace DiffusersSharp.Server.Tests;

/// <summary>The playground in a real headless browser with the demo model: type a prompt, generate, watch the progress, see the picture.</summary>
public sealed class PlaygroundBrowserTests
{
    [Fact]
    public async Task Typing_a_prompt_and_generating_shows_the_picture_and_its_history()
    {
        // The page watches the job after submitting it, and an event stream reports from its subscription on: the
        // generation is held until the page shows its first event, so that every step reaches the page.
        using var holding = new HoldingFaultInjector(holdEveryCall: true);
        await using var server = await ServerUnderTest.StartAsync(new Dictionary<string, string?> { ["Diffuse:DefaultModel"] = "demo-shapes" },
            configure: b => b.Services.AddSingleton<IGenerationFaultInjector>(holding));
        var profile = Directory.CreateTempSubdirectory("diffuse-chromium-");
        try
        {
            using var browser = HeadlessChromium.Start(profile.FullName);
            browser.Navigate().GoToUrl(server.BaseAddress);
            var wait = new WebDriverWait(browser, TimeSpan.FromSeconds(90));
            wait.Until(b => b.FindElements(By.CssSelector("#model option")).Count > 0);

            Assert.Equal("demo-shapes", browser.FindElement(By.Id("model")).GetAttribute("value"));
            browser.FindElement(By.Id("prompt")).SendKeys("a large yellow circle on a blue background");
            SetValue(browser, "steps", "12");
            SetValue(browser, "seed", "0");
            // The demo model's card: guidance about 2.
            SetValue(browser, "guidance", "2");
            // Records every value the progress bar takes, to see it fed step by step by the event stream.
            ((IJavaScriptExecutor)browser).ExecuteScript("""
                window.progressValues = [];
                new MutationObserver(records => records.forEach(r => window.progressValues.push(r.target.getAttribute('value') + '/' + r.target.getAttribute('max'))))
                    .observe(document.getElementById('progress'), { attributes: true, attributeFilter: ['value'] });
                """);
            browser.FindElement(By.Id("generate")).Click();
            wait.Until(b => b.FindElement(By.Id("status")).Text is "queued" or "started");
            holding.Release();

            var picture = wait.Until(b => b.FindElement(By.Id("result")) is { Displayed: true } img && Loaded(b, img) ? img : null);
            Assert.StartsWith("blob:", picture!.GetAttribute("src"));
            Assert.Equal("", browser.FindElement(By.Id("error")).Text);
            var progress = browser.FindElement(By.Id("progress"));
            Assert.Equal("12", progress.GetAttribute("max"));
            Assert.Equal("12", progress.GetAttribute("value"));
            var values = ((IReadOnlyCollection<object>)((IJavaScriptExecutor)browser).ExecuteScript("return window.progressValues;")!).Select(v => (string)v).ToList();
            Assert.Contains("1/12", values);
            Assert.Contains("6/12", values);
            var history = browser.FindElements(By.CssSelector("#history figure"));
            Assert.Contains("a large yellow circle on a blue background", Assert.Single(history).Text);

            // The README's picture of the playground: DIFFUSE_SCREENSHOT=docs/playground.png, saved with a palette to stay small.
            if (Environment.GetEnvironmentVariable("DIFFUSE_SCREENSHOT") is { Length: > 0 } screenshot)
            {
                using var image = Image.Load(((ITakesScreenshot)browser).GetScreenshot().AsByteArray);
                image.SaveAsPng(screenshot, new SixLabors.ImageSharp.Formats.Png.PngEncoder { ColorType = SixLabors.ImageSharp.Formats.Png.PngColorType.Palette });
            }
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }

    private static void SetValue(IWebDriver browser, string id, string value)
    {
        var input = browser.FindElement(By.Id(id));
        input.Clear();
        input.SendKeys(value);
    }

    /// <summary>True once the image has decoded (a picture, not just an element).</summary>
    private static bool Loaded(IWebDriver browser, IWebElement img) =>
        ((IJavaScriptExecutor)browser).ExecuteScript("return arguments[0].complete && arguments[0].naturalWidth > 0;", img) is true;
}
