using Microsoft.Playwright;

namespace Rbee.SystemTests.Dashboard;

/// <summary>
/// Debian's chromium (<c>scripts/install-test-deps.sh</c> installs it) driven by Playwright: no browser is downloaded.
/// One browser per test class; each test opens its own context, so tests share no page state.
/// </summary>
public sealed class DashboardBrowser : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private DashboardBrowser(IPlaywright playwright, IBrowser browser)
    {
        Playwright = playwright;
        Browser = browser;
    }

    public IPlaywright Playwright { get; }
    public IBrowser Browser { get; }

    /// <summary>Where the tests leave their screenshots: beside the test assembly.</summary>
    public static string ScreenshotDir => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "dashboard-screenshots")).FullName;

    public static async Task<DashboardBrowser> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"{ChromiumPath} is missing: run scripts/install-test-deps.sh (it installs Debian's chromium)");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        // --no-sandbox: the test machine runs chromium as root, where its sandbox refuses to start.
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
        return new DashboardBrowser(playwright, browser);
    }

    /// <summary>A fresh page at <paramref name="queenUrl"/>, signed in with <paramref name="token"/> (null: the run's token,
    /// which a queen started in a test HOME reads from its token file).</summary>
    public async Task<IPage> OpenAsync(string queenUrl, string? token = null, int width = 1280, int height = 800, string colorScheme = "light")
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = colorScheme == "dark" ? ColorScheme.Dark : ColorScheme.Light,
        });
        var page = await context.NewPageAsync();
        await page.GotoAsync(queenUrl + "/");
        // Nothing of the cluster shows before the token is given.
        await Assertions.Expect(page.GetByLabel("Cluster token")).ToBeFocusedAsync();
        await Assertions.Expect(page.Locator("#main")).ToBeHiddenAsync();
        await page.GetByLabel("Cluster token").FillAsync(token ?? Rbee.Testing.TestClusterToken.Value);
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#conn")).ToHaveTextAsync("live", new() { Timeout = 10_000 });
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
    }
}
