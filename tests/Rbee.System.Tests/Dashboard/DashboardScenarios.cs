using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Rbee.SystemTests.Infrastructure;
using Rbee.SystemTests.Models;
using Rbee.Testing;
using static Microsoft.Playwright.Assertions;

namespace Rbee.SystemTests.Dashboard;

/// <summary>A real queen, two real hives (llm-worker-rbee as their <c>llm</c> type, pulling from a local Hugging Face
/// stand-in) and one chromium.</summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    public RoutingCluster Cluster { get; private set; } = null!;
    public DashboardBrowser Browser { get; private set; } = null!;
    public HuggingFaceServer Models { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Models = await TinyPull.StartServerAsync();
        // About two seconds a pull: the page has several progress events to show.
        Models.BytesPerSecond = TinyPull.Model.Length / 2;
        // An idle timeout far beyond the tests' length: workers the queen starts show when they would be stopped, none is.
        Cluster = await RoutingCluster.StartAsync(queenSettings: new Dictionary<string, string> { ["RBEE_Scheduling__IdleTimeout"] = "01:00:00" },
            hiveSettings: TinyPull.HiveSettings(Models));
        Browser = await DashboardBrowser.LaunchAsync();
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        await Cluster.DisposeAsync();
        await Models.DisposeAsync();
    }
}

/// <summary>The dashboard in a real browser: what an operator sees of the cluster, live, and what they can do from it.</summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class DashboardScenarios(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    private static readonly TimeSpan Budget = RoutingCluster.Budget;
    private RoutingCluster C => fixture.Cluster;

    private static ILocator Hive(IPage page, HiveNode hive) => page.Locator($"li[data-hive='{hive.HiveId}']");

    private static ILocator WorkerRows(IPage page, string model) => page.Locator($"#worker-rows tr[data-model='{model}']");

    [Fact]
    public async Task HivesAndAStartedWorkerAppear_AndAWorkerKilledWithSigkillLeavesThePageWithinTwoSeconds()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "dash-tiny");
        await C.WaitListedAsync("dash-tiny", Budget);
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);

        await Expect(Hive(page, C.A).GetByTestId("hive-state")).ToHaveTextAsync("online");
        await Expect(Hive(page, C.B).GetByTestId("hive-state")).ToHaveTextAsync("online");
        await Expect(Hive(page, C.A)).ToContainTextAsync("CPU");

        // Started from the page's own form, by keyboard. The worker types are the hive's own: llm chosen; vllm, not
        // installed on the test machine, listed but disabled, with the hive's reason under the form.
        await page.GetByLabel("Model", new() { Exact = true }).First.FillAsync("dash-tiny");
        await page.Locator("#spawn-hive").SelectOptionAsync(C.A.HiveId);
        await Expect(page.Locator("#spawn-type")).ToHaveValueAsync("llm");
        await Expect(page.Locator("#spawn-type option[value='test']")).ToBeEnabledAsync();
        await Expect(page.Locator("#spawn-type option[value='vllm']")).ToBeDisabledAsync();
        await Expect(page.Locator("#spawn-type-note")).ToContainTextAsync("vllm");
        await Expect(page.Locator("#spawn-device")).ToHaveValueAsync("cpu");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start worker" }).FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        var row = WorkerRows(page, "dash-tiny");
        await Expect(row).ToHaveCountAsync(1, new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(row).ToContainTextAsync("ready", new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(page.Locator("#spawn-status")).ToContainTextAsync("is ready");
        await Expect(row).ToContainTextAsync(C.A.HiveId);
        // A person's worker: the queen never stops it for being idle.
        await Expect(row.Locator("td.idle")).ToHaveTextAsync("never");

        var worker = Assert.Single(await C.WorkersAsync("dash-tiny"));
        await Expect(row).ToContainTextAsync(worker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Signals.Send(worker.Pid, Signals.SIGKILL);
        await Expect(row).ToHaveCountAsync(0, new() { Timeout = 2_000 });
    }

    [Fact]
    public async Task AHiveFrozenWithSigstop_TurnsDegradedOnThePage_AndOnlineWhenItResumes()
    {
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);
        var state = Hive(page, C.B).GetByTestId("hive-state");
        await Expect(state).ToHaveTextAsync("online");

        // Armed before the freeze: the queen's own event is the reference for "within a second".
        var degraded = C.Stream.WaitForStateAsync("hive B degraded", C.B.HiveId, "degraded", Budget);
        C.B.Process.Signal(Signals.SIGSTOP);
        try
        {
            await degraded;
            await Expect(state).ToHaveTextAsync("degraded", new() { Timeout = 1_000 });
        }
        finally
        {
            C.B.Process.Signal(Signals.SIGCONT);
        }
        await Expect(state).ToHaveTextAsync("online", new() { Timeout = (float)Budget.TotalMilliseconds });
    }

    [Fact]
    public async Task APullStartedFromThePage_ShowsItsProgress_AndEndsWithTheModelOnTheHive()
    {
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);
        await page.EvaluateAsync("""
            window.pullChanges = 0;
            new MutationObserver(() => window.pullChanges++).observe(document.getElementById("pull-progress"), { subtree: true, childList: true, characterData: true });
            """);

        await page.GetByLabel("Source").FillAsync(TinyPull.Source);
        await page.GetByLabel("Onto").SelectOptionAsync(C.B.HiveId);
        await page.GetByRole(AriaRole.Button, new() { Name = "Pull", Exact = true }).ClickAsync();

        var bar = page.Locator("#pull-progress progress");
        await Expect(bar).ToHaveCountAsync(1, new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(page.Locator("#pull-status")).ToContainTextAsync("Pulled", new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(page.Locator("#pull-progress")).ToContainTextAsync("done");
        Assert.Equal(await bar.GetAttributeAsync("max"), await bar.EvaluateAsync<string>("p => String(p.value)"));
        var changes = await page.EvaluateAsync<int>("window.pullChanges");
        Assert.True(changes >= 3, $"the progress bar changed {changes} times: no progress was shown before the end");
        Assert.True(File.Exists(Path.Combine(C.ModelsDir(C.B), "aidreams260K.gguf")), "the pulled file is not in hive B's models directory");
    }

    [Fact]
    public async Task TheChatBoxStreamsAnAnswerThroughTheQueen_TheRequestShowsItsTimeline_AndTheWorkerStopsFromItsRow()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "dash-chat");
        await C.WaitListedAsync("dash-chat", Budget);
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);
        // Counts the changes of the conversation while the answer streams in.
        await page.EvaluateAsync("""
            window.chatChanges = 0;
            new MutationObserver(() => window.chatChanges++).observe(document.getElementById("chat-log"), { subtree: true, childList: true, characterData: true });
            """);

        await page.Locator("#chat-model").FillAsync("dash-chat");
        // The tiny model samples its answer and may end it at once (end of text first): that is an answer too, but not one
        // that shows streaming, so the message is sent again (at most three times) until the model says something.
        var answer = page.Locator(".msg.assistant p").Last;
        var said = "";
        for (var attempt = 1; attempt <= 3 && !Regex.IsMatch(said, @"\w{2,}"); attempt++)
        {
            await page.EvaluateAsync("window.chatChanges = 0");
            await page.GetByLabel("Message").FillAsync(attempt == 1 ? "Once upon a time" : "Tell me a story");
            await page.GetByLabel("Message").PressAsync("Enter");
            await Expect(page.Locator("#chat-status")).ToContainTextAsync("Answered by", new() { Timeout = (float)Budget.TotalMilliseconds });
            said = await answer.TextContentAsync() ?? "";
        }
        Assert.Matches(@"\w{2,}", said);
        var changes = await page.EvaluateAsync<int>("window.chatChanges");
        // The page redraws at most once per animation frame, and the tiny model can write its whole answer within a few
        // frames on a fast run: more than one change says the answer was written as it came, not once at the end (the
        // token-by-token stream itself is the infer job's, tested at the queen). Four changes failed a loaded run with 3.
        Assert.True(changes >= 2, $"the answer arrived in {changes} changes of the page, not as it streamed");

        // The queen started a worker for the first message (a cold start) and that request's bars show it. The list is
        // newest first, and a message sent again above went to the warm worker: the cold one is the last of the list.
        var request = page.Locator("li.req", new() { Has = page.Locator(".req-model", new() { HasText = "dash-chat" }) }).Last;
        await Expect(request).ToContainTextAsync("200");
        await Expect(request.Locator(".seg.ph-spawn")).ToHaveCountAsync(1);
        // worker_spawned splits the cold start: the process started, then the model loaded.
        await Expect(request.Locator(".seg.ph-load")).ToHaveCountAsync(1);
        await Expect(request.Locator(".tl")).ToHaveAttributeAsync("aria-label", new Regex("starting a worker .*, loading the model .*, to first token"));
        await Expect(request.Locator(".seg.ph-gen")).ToHaveCountAsync(1);
        await Expect(WorkerRows(page, "dash-chat")).ToHaveCountAsync(1);
        // The queen started it, so its idle timeout applies (an hour in this fixture).
        await Expect(WorkerRows(page, "dash-chat").Locator("td.idle")).ToHaveTextAsync(new Regex(@"^in 59 min"));

        await page.ScreenshotAsync(new() { Path = Path.Combine(DashboardBrowser.ScreenshotDir, "dashboard-1280x800.png") });
        await page.ScreenshotAsync(new() { Path = Path.Combine(DashboardBrowser.ScreenshotDir, "dashboard-full.png"), FullPage = true });
        var phone = await fixture.Browser.OpenAsync(C.Queen.Url, width: 390, height: 844, colorScheme: "dark");
        await Expect(WorkerRows(phone, "dash-chat")).ToHaveCountAsync(1);
        await phone.ScreenshotAsync(new() { Path = Path.Combine(DashboardBrowser.ScreenshotDir, "dashboard-phone-dark.png"), FullPage = true });

        // Stopped from its row: the worker leaves the page once the queen's view has lost it.
        await page.GetByRole(AriaRole.Button, new() { Name = $"Stop dash-chat on {C.A.HiveId}", Exact = false }).ClickAsync();
        await Expect(WorkerRows(page, "dash-chat")).ToHaveCountAsync(0, new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(page.Locator("#spawn-status")).ToContainTextAsync("Stopped");
    }

    [Fact]
    public async Task AWorkersLogOpensFromItsRow_ShowsItsReadyLine_AndFollowsTheNextRequest()
    {
        C.Put(C.A, RoutingCluster.TinyModel, "dash-logs");
        await C.WaitListedAsync("dash-logs", Budget);
        var (port, _) = await C.SpawnAsync(C.A, "dash-logs");
        // Dark: the light scheme is in the other tests' screenshots; this one shows the log panel in the dark one.
        var page = await fixture.Browser.OpenAsync(C.Queen.Url, colorScheme: "dark");
        var row = WorkerRows(page, "dash-logs");
        await Expect(row).ToContainTextAsync("ready", new() { Timeout = (float)Budget.TotalMilliseconds });

        // Opened by keyboard; the log takes the focus and shows the worker's last lines.
        var logs = page.GetByRole(AriaRole.Button, new() { Name = $"Logs of dash-logs on {C.A.HiveId} port {port}" });
        await logs.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        var panel = page.Locator("#log-panel");
        var text = page.Locator("#log-text");
        await Expect(panel).ToBeVisibleAsync();
        await Expect(text).ToBeFocusedAsync();
        await Expect(text).ToContainTextAsync($"Ready on port {port}", new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(page.Locator("#log-state")).ToContainTextAsync("following");
        await Expect(page.Locator("#log-path")).ToContainTextAsync("worker.log");

        // A request served after the log was opened appears in it: the panel follows the file. (The file is the port's,
        // so an earlier worker on the same port may have served requests already: counted, not assumed absent.)
        const string served = " chat 200";
        var before = await text.EvaluateAsync<int>("(e, s) => e.textContent.split(s).length - 1", served);
        using (var response = await RoutingCluster.PostAsync(C.Queen.Url, "/v1/chat/completions",
            JsonSerializer.Serialize(new { model = "dash-logs", messages = new[] { new { role = "user", content = "Once" } }, max_tokens = 4 })))
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        await page.WaitForFunctionAsync("([s, n]) => document.getElementById('log-text').textContent.split(s).length - 1 > n",
            new object[] { served, before }, new() { Timeout = (float)Budget.TotalMilliseconds });
        await page.ScreenshotAsync(new() { Path = Path.Combine(DashboardBrowser.ScreenshotDir, "dashboard-worker-log-dark.png"), FullPage = true });

        // Escape closes it and gives the focus back to the button that opened it.
        await page.Keyboard.PressAsync("Escape");
        await Expect(panel).ToBeHiddenAsync();
        await Expect(logs).ToBeFocusedAsync();
        await Expect(logs).ToHaveAttributeAsync("aria-expanded", "false");
    }

    [Fact]
    public async Task AWorkerStoppedMidAnswer_EndsTheChatWithAVisibleError_NotAHang()
    {
        C.Put(C.A, RoutingCluster.SlowModel, "dash-slow");
        await C.WaitListedAsync("dash-slow", Budget);
        await C.SpawnAsync(C.A, "dash-slow");
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);
        // The page asks for a short answer; this one must last until the worker is stopped: the test lengthens it.
        await page.RouteAsync("**/v1/jobs", async route =>
        {
            var body = route.Request.PostData is { } data ? JsonNode.Parse(data) as JsonObject : null;
            if (route.Request.Method != "POST" || body?["operation"]?.GetValue<string>() != "infer")
            {
                await route.ContinueAsync();
                return;
            }
            body["max_tokens"] = 3000;
            body["ignore_eos"] = true;
            await route.ContinueAsync(new() { PostData = Encoding.UTF8.GetBytes(body.ToJsonString()) });
        });

        await page.Locator("#chat-model").FillAsync("dash-slow");
        await page.GetByLabel("Message").FillAsync("Once upon a time");
        await page.GetByLabel("Message").PressAsync("Enter");
        var answer = page.Locator(".msg.assistant").Last;
        await Expect(page.Locator("#chat-status")).ToHaveTextAsync("Answering…", new() { Timeout = (float)Budget.TotalMilliseconds });
        await Expect(answer.Locator("p")).Not.ToBeEmptyAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = $"Stop dash-slow on {C.A.HiveId}", Exact = false }).ClickAsync();
        // The worker cancels its requests on SIGTERM: the answer ends at once, marked as cut off, and the box is usable again.
        var ends = new LocatorAssertionsToContainTextOptions { Timeout = 10_000 };
        await Expect(page.Locator("#chat-status")).ToContainTextAsync("Failed", ends);
        await Expect(answer.Locator(".cut-note")).ToContainTextAsync("cut off");
        await Expect(page.Locator("#chat-send")).ToBeEnabledAsync();
        await Expect(page.Locator("#chat-stop")).ToBeHiddenAsync();
        await page.Locator("section.chat").ScreenshotAsync(new() { Path = Path.Combine(DashboardBrowser.ScreenshotDir, "dashboard-chat-cut-off.png") });
        await Expect(WorkerRows(page, "dash-slow")).ToHaveCountAsync(0, new() { Timeout = (float)Budget.TotalMilliseconds });
    }

    [Fact]
    public async Task AHiveKilledWithSigkill_IsOfflineOnThePageWithinASecondOfTheQueensEvent()
    {
        // A hive of its own: the fixture's two stay as the other tests expect them.
        using var home = new TempHome();
        await using var doomed = HiveNode.Start(home.Path, C.Queen.Url);
        await C.Stream.WaitForStateAsync("third hive online", doomed.HiveId, "online", Budget);
        var page = await fixture.Browser.OpenAsync(C.Queen.Url);
        var state = Hive(page, doomed).GetByTestId("hive-state");
        await Expect(state).ToHaveTextAsync("online");

        // Armed before the kill: the queen's own event is the reference for "within a second".
        var offline = C.Stream.WaitForStateAsync("third hive offline", doomed.HiveId, "offline", Budget);
        doomed.Process.Signal(Signals.SIGKILL);
        await offline;
        await Expect(state).ToHaveTextAsync("offline", new() { Timeout = 1_000 });
        await Expect(Hive(page, doomed)).ToContainTextAsync("not reachable");
    }
}
