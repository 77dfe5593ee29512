using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using static Microsoft.Playwright.Assertions;

namespace Rbee.SystemTests.Dashboard;

/// <summary>The page's own connection: the token prompt against a queen that has one, and reconnecting by itself.</summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class DashboardConnectionScenarios : IAsyncLifetime
{
    private const string Token = "dashboard-test-token-0123456789abcdef";
    private static readonly TimeSpan Budget = RoutingCluster.Budget;
    private readonly TempHome _home = new();
    private DashboardBrowser _browser = null!;

    public async Task InitializeAsync() => _browser = await DashboardBrowser.LaunchAsync();

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _home.Dispose();
    }

    [Fact]
    public async Task AWrongTokenIsRefusedOnThePrompt_TheRightOneConnects_AndThePageReconnectsByItselfToARestartedQueen()
    {
        var queen = QueenNode.Start(_home.Path, token: Token);
        try
        {
            await queen.WaitHealthyAsync();
            var context = await _browser.Browser.NewContextAsync();
            var page = await context.NewPageAsync();
            await page.GotoAsync(queen.Url + "/");

            await page.GetByLabel("Cluster token").FillAsync("not-the-token");
            await page.Keyboard.PressAsync("Enter");
            await Expect(page.Locator("#login-error")).ToContainTextAsync("refused", new() { Timeout = 10_000 });
            await Expect(page.Locator("#main")).ToBeHiddenAsync();

            await page.GetByLabel("Cluster token").FillAsync(Token);
            await page.Keyboard.PressAsync("Enter");
            await Expect(page.Locator("#conn")).ToHaveTextAsync("live", new() { Timeout = 10_000 });
            await Expect(page.Locator("#summary")).ToContainTextAsync("Hives: 0 online");

            // The queen dies; the page says so and keeps trying; a queen on the same address brings it back, same token.
            var port = queen.Port;
            queen.Process.Signal(Signals.SIGKILL);
            await queen.DisposeAsync();
            await Expect(page.Locator("#conn")).Not.ToHaveTextAsync("live", new() { Timeout = 10_000 });
            queen = QueenNode.Start(_home.Path, port: port, token: Token);
            await Expect(page.Locator("#conn")).ToHaveTextAsync("live", new() { Timeout = (float)Budget.TotalMilliseconds });
            await Expect(page.Locator("#main")).ToBeVisibleAsync();
        }
        finally
        {
            await queen.DisposeAsync();
        }
    }
}
