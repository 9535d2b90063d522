// Opens every page of the built site in headless Chromium, as a reader would: serves the site
// on a loopback port, drives the browser over the DevTools protocol, and fails when a page
// shows no text or an image that did not load (a tag whose picture the browser could not
// decode counts). Screenshots of the home page and one tutorial go beside the site.
//   dotnet fsi scripts/docs/browse.fsx out/site out/site-screenshots
// Needs Debian's chromium (apt-get install chromium).
#r "bin/kit/Cotangent.DocsKit.dll" // built by build.sh before this runs
#nowarn "3886" // obj [ "key", value ] lists of one pair are meant

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Http
open System.Net.WebSockets
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open System.Threading

let site, shots =
    match fsi.CommandLineArgs with
    | [| _; site; shots |] -> Path.GetFullPath site, Path.GetFullPath shots
    | _ -> failwith "usage: dotnet fsi scripts/docs/browse.fsx <site folder> <screenshot folder>"

let fail fmt =
    Printf.kprintf
        (fun s ->
            eprintfn "docs browse: %s" s
            exit 1)
        fmt

let port = Cotangent.DocsKit.freePort ()
let server = new HttpListener()
server.Prefixes.Add(sprintf "http://127.0.0.1:%d/" port)
server.Start()

let contentType (path: string) =
    match Path.GetExtension(path).ToLowerInvariant() with
    | ".html" -> "text/html; charset=utf-8"
    | ".css" -> "text/css"
    | ".js" -> "text/javascript"
    | ".svg" -> "image/svg+xml"
    | ".png" -> "image/png"
    | ".json" -> "application/json"
    | _ -> "application/octet-stream"

let serve () =
    while server.IsListening do
        try
            let ctx = server.GetContext()

            try
                let rel = Uri.UnescapeDataString(ctx.Request.Url.AbsolutePath).TrimStart '/'
                let path = Path.GetFullPath(Path.Combine(site, rel))

                let path =
                    if Directory.Exists path then
                        Path.Combine(path, "index.html")
                    else
                        path

                if path.StartsWith site && File.Exists path then
                    let bytes = File.ReadAllBytes path
                    ctx.Response.ContentType <- contentType path
                    ctx.Response.OutputStream.Write(bytes, 0, bytes.Length)
                else
                    ctx.Response.StatusCode <- 404
            finally
                ctx.Response.Close()
        with _ ->
            ()

Thread(serve, IsBackground = true).Start()

// ---- the browser ----------------------------------------------------------------------------
let profile = Directory.CreateTempSubdirectory "cotangent-chromium-"

let chromium =
    [ "chromium"; "chromium-browser"; "google-chrome" ]
    |> List.tryFind (fun exe ->
        (Environment.GetEnvironmentVariable "PATH").Split ':'
        |> Array.exists (fun d -> File.Exists(Path.Combine(d, exe))))
    |> Option.defaultWith (fun () -> fail "no chromium on PATH; install it: apt-get install chromium")

let browser =
    let args =
        [ "--headless"
          "--no-sandbox" // CI runs as root, where Chromium's sandbox refuses to start
          "--disable-gpu"
          "--no-first-run"
          "--hide-scrollbars"
          // the pages are checked offline: the template's CDN scripts (icons, the theme switch)
          // fail at once instead of each page waiting for a network that CI may not have
          "\"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1\""
          "--window-size=1280,900"
          "--remote-debugging-port=0" // Chromium picks a free port and writes it in the profile
          sprintf "--user-data-dir=%s" profile.FullName
          "about:blank" ]

    let info =
        ProcessStartInfo(chromium, String.Join(" ", args), RedirectStandardError = true, RedirectStandardOutput = true)

    match Process.Start info with
    | null -> fail "could not start %s" chromium
    | p ->
        p.ErrorDataReceived.Add ignore
        p.OutputDataReceived.Add ignore
        p.BeginErrorReadLine()
        p.BeginOutputReadLine()
        p

let stopBrowser () =
    try
        browser.Kill true
        browser.WaitForExit 10000 |> ignore
    with _ ->
        ()

    try
        profile.Delete true
    with _ ->
        ()

AppDomain.CurrentDomain.ProcessExit.Add(fun _ -> stopBrowser ())

/// The DevTools address of the page Chromium opened, once it answers (up to 30 s). The port is
/// the first line of DevToolsActivePort in the profile, written once Chromium listens.
let pageSocket =
    use http = new HttpClient(Timeout = TimeSpan.FromSeconds 5.0)
    let deadline = DateTime.UtcNow.AddSeconds 30.0
    let portFile = Path.Combine(profile.FullName, "DevToolsActivePort")

    let rec find () =
        let listing =
            try
                let debugPort = int (File.ReadAllLines(portFile).[0])
                Some(http.GetStringAsync(sprintf "http://127.0.0.1:%d/json/list" debugPort).Result)
            with _ ->
                None

        let page =
            listing
            |> Option.bind (fun s ->
                JsonNode.Parse(s).AsArray()
                |> Seq.tryFind (fun t -> string t.["type"] = "page")
                |> Option.map (fun t -> string t.["webSocketDebuggerUrl"]))

        match page with
        | Some url -> url
        | None when browser.HasExited -> fail "chromium exited with %d before it answered" browser.ExitCode
        | None when DateTime.UtcNow > deadline ->
            fail "chromium did not answer within 30 s (no DevTools port in %s)" portFile
        | None ->
            Thread.Sleep 200
            find ()

    find ()

let ws = new ClientWebSocket()
ws.ConnectAsync(Uri pageSocket, CancellationToken.None).Wait()
let mutable nextId = 0

/// One message from the browser (a reply or an event); waiting is `what`, named when it times out.
let receive (what: string) (timeout: TimeSpan) =
    use cts = new CancellationTokenSource(timeout)
    let buffer = Array.zeroCreate<byte> 65536
    use text = new MemoryStream()

    let rec loop () =
        let r =
            try
                ws.ReceiveAsync(ArraySegment buffer, cts.Token).Result
            with e ->
                fail
                    "chromium said nothing for %.0f s while %s (%s)"
                    timeout.TotalSeconds
                    what
                    (e.GetBaseException().Message)

        if r.MessageType = WebSocketMessageType.Close then
            fail "chromium closed the DevTools connection while %s" what

        text.Write(buffer, 0, r.Count)

        if not r.EndOfMessage then
            loop ()

    loop ()
    JsonNode.Parse(Encoding.UTF8.GetString(text.ToArray())).AsObject()

/// Sends a command and waits for its reply; events that arrive meanwhile go to onEvent.
let call (onEvent: JsonObject -> unit) (methodName: string) (parameters: JsonObject) =
    nextId <- nextId + 1
    let id = nextId
    let msg = JsonObject()
    msg.["id"] <- id
    msg.["method"] <- methodName
    msg.["params"] <- parameters
    let bytes = Encoding.UTF8.GetBytes(msg.ToJsonString())
    ws.SendAsync(ArraySegment bytes, WebSocketMessageType.Text, true, CancellationToken.None).Wait()

    let rec await () =
        let m = receive methodName (TimeSpan.FromSeconds 60.0)

        let replyTo = m.["id"]

        if not (isNull replyTo) && replyTo.GetValue<int>() = id then
            let error = m.["error"]

            if not (isNull error) then
                fail "%s failed: %s" methodName (error.ToJsonString())

            m.["result"].AsObject()
        else
            onEvent m
            await ()

    await ()

let ignoreEvents (_: JsonObject) = ()

let obj (pairs: (string * JsonNode) list) =
    let o = JsonObject()

    for k, v in pairs do
        o.[k] <- v

    o

call ignoreEvents "Page.enable" (JsonObject()) |> ignore

/// Navigates and waits for the load event (images included), up to 30 s.
let visit (url: string) =
    let mutable loaded = false

    let r =
        call
            (fun e ->
                if string e.["method"] = "Page.loadEventFired" then
                    loaded <- true)
            "Page.navigate"
            (obj [ "url", JsonValue.Create url ])

    // a page that could not be fetched shows Chromium's error page, which has text
    match r.["errorText"] with
    | null -> ()
    | e -> fail "%s could not be opened: %s" url (string e)

    let deadline = DateTime.UtcNow.AddSeconds 30.0

    while not loaded do
        if DateTime.UtcNow > deadline then
            fail "%s did not finish loading within 30 s" url

        let e = receive ("loading " + url) (TimeSpan.FromSeconds 30.0)

        if string e.["method"] = "Page.loadEventFired" then
            loaded <- true

/// What a reader sees: the length of the page's own rendered text (the template's #content, without
/// its menus), and the images that did not load.
let inspect () =
    let probe =
        """JSON.stringify({
             text: ((document.querySelector('#content') || document.body || {}).innerText || '').trim().length,
             broken: Array.from(document.images)
               .filter(i => !i.complete || i.naturalWidth === 0)
               .map(i => (i.getAttribute('src') || '').slice(0, 80))
           })"""

    let r =
        call
            ignoreEvents
            "Runtime.evaluate"
            (obj [ "expression", JsonValue.Create probe; "returnByValue", JsonValue.Create true ])

    let v = JsonNode.Parse(string r.["result"].["value"])
    v.["text"].GetValue<int>(), [ for b in v.["broken"].AsArray() -> string b ]

/// The whole page as PNG: the window is made as tall as the tallest scrolling element (the
/// template scrolls its main column inside a fixed frame), up to 16,000 pixels.
let screenshot (name: string) =
    let tallest =
        "Math.max(...Array.from(document.querySelectorAll('*')).map(e => e.scrollHeight))"

    let r =
        call
            ignoreEvents
            "Runtime.evaluate"
            (obj
                [ "expression", JsonValue.Create tallest
                  "returnByValue", JsonValue.Create true ])

    let height = min 16000 (max 900 (int (r.["result"].["value"].GetValue<float>())))

    call
        ignoreEvents
        "Emulation.setDeviceMetricsOverride"
        (obj
            [ "width", JsonValue.Create 1280
              "height", JsonValue.Create height
              "deviceScaleFactor", JsonValue.Create 1
              "mobile", JsonValue.Create false ])
    |> ignore

    let shot =
        call ignoreEvents "Page.captureScreenshot" (obj [ "format", JsonValue.Create "png" ])

    call ignoreEvents "Emulation.clearDeviceMetricsOverride" (JsonObject())
    |> ignore

    let bytes = Convert.FromBase64String(string shot.["data"])
    File.WriteAllBytes(Path.Combine(shots, name), bytes)
    bytes.Length

// ---- every page -------------------------------------------------------------------------------
Directory.CreateDirectory shots |> ignore

let pages =
    Directory.GetFiles(site, "*.html", SearchOption.AllDirectories)
    |> Array.map (fun p -> Path.GetRelativePath(site, p).Replace('\\', '/'))
    |> Array.sort

let wanted =
    dict [ "index.html", "home.png"; "tutorials/seed.html", "tutorial-seed.png" ]

let problems = ResizeArray<string>()

for page in pages do
    visit (sprintf "http://127.0.0.1:%d/%s" port page)
    let text, broken = inspect ()

    if text = 0 then
        problems.Add(sprintf "%s: the rendered page has no text" page)

    for src in broken do
        problems.Add(sprintf "%s: an image did not load: %s" page src)

    match wanted.TryGetValue page with
    | true, name ->
        let size = screenshot name
        printfn "docs browse: %s (%d chars of text) -> %s (%d bytes)" page text (Path.Combine(shots, name)) size
    | _ -> ()

for page in wanted.Keys do
    if not (Array.contains page pages) then
        problems.Add(sprintf "%s: missing, so no screenshot of it" page)

server.Stop()
stopBrowser ()

if problems.Count > 0 then
    problems |> Seq.iter (eprintfn "docs browse: %s")
    eprintfn "docs browse: %d problem(s) in %d pages" problems.Count pages.Length
    exit 1

printfn "docs browse: %d pages opened in %s, each with text and every image loaded" pages.Length chromium
