/// What the site's tutorials and scripts use besides Cotangent: pictures turned into HTML the
/// page embeds, the autograd graph's DOT text rendered by Graphviz, and the processes a page
/// runs (the examples it builds and shows). Not part of any package.
module Cotangent.DocsKit

open System
open System.Diagnostics

/// An <img> tag holding PNG bytes (a data URI, so a page and its pictures cannot come apart).
/// Example: `DocsKit.png "the graph" (DocsKit.dot "digraph { a -> b }")` in an include-it-raw fragment.
let png (alt: string) (bytes: byte[]) =
    if bytes.Length = 0 then
        failwithf "DocsKit.png: the picture '%s' has no bytes" alt

    sprintf
        """<img alt="%s" src="data:image/png;base64,%s" />"""
        (Net.WebUtility.HtmlEncode alt)
        (Convert.ToBase64String bytes)

/// A ScottPlot plot as an <img> tag, width × height pixels. Example: `DocsKit.plot "loss" 640 360 plot`.
let plot (alt: string) (width: int) (height: int) (p: ScottPlot.Plot) =
    png alt (p.GetImageBytes(width, height, ScottPlot.ImageFormat.Png))

/// Graphviz's `dot` turns DOT text into PNG bytes; fails, saying how, when dot is missing or
/// refuses the graph (Debian: apt-get install graphviz). Example: `DocsKit.dot "digraph { x -> y }"`.
let dot (source: string) =
    let info =
        ProcessStartInfo(
            "dot",
            "-Tpng -Gdpi=96",
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    use p =
        match
            (try
                Process.Start info
             with e ->
                 failwithf
                     "DocsKit.dot: could not start Graphviz's dot (%s); install it: apt-get install graphviz"
                     e.Message)
        with
        | null -> failwith "DocsKit.dot: Graphviz's dot did not start; install it: apt-get install graphviz"
        | p -> p

    let stderr = p.StandardError.ReadToEndAsync()
    p.StandardInput.Write source
    p.StandardInput.Close()
    use bytes = new IO.MemoryStream()
    p.StandardOutput.BaseStream.CopyTo bytes
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwithf "DocsKit.dot: dot exited with %d: %s" p.ExitCode stderr.Result

    bytes.ToArray()

/// A process started in `directory`, both its streams read as it runs (a full pipe would stop
/// it); Output and Errors are what it has written so far. Disposing stops it. Example:
/// `use service = new DocsKit.Running(root, "dotnet", "run --project examples/CSharpService")`.
type Running(directory: string, file: string, args: string, ?environment: (string * string) list) =
    let out, err = Text.StringBuilder(), Text.StringBuilder()

    let p =
        let info =
            ProcessStartInfo(
                file,
                args,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = directory
            )

        for name, value in defaultArg environment [] do
            info.Environment.[name] <- value

        match
            (try
                Process.Start info
             with e ->
                 failwithf "DocsKit: could not start %s (%s)" file e.Message)
        with
        | null -> failwithf "DocsKit: could not start %s" file
        | p -> p

    do
        p.OutputDataReceived.Add(fun e -> lock out (fun () -> out.AppendLine e.Data |> ignore))
        p.ErrorDataReceived.Add(fun e -> lock err (fun () -> err.AppendLine e.Data |> ignore))
        p.BeginOutputReadLine()
        p.BeginErrorReadLine()

    /// Whether the process has ended.
    member _.HasExited = p.HasExited

    /// What it has written to standard output so far.
    member _.Output = lock out (fun () -> out.ToString())

    /// What it has written to standard error so far.
    member _.Errors = lock err (fun () -> err.ToString())

    /// Ends it (and the processes it started), if it still runs.
    member _.Stop() =
        if not p.HasExited then
            p.Kill true

        p.WaitForExit()

    /// Waits for its end: its output, or an error with both streams when it exited non-zero.
    member this.Finish() =
        p.WaitForExit()

        if p.ExitCode <> 0 then
            failwithf "%s %s exited with %d:\n%s\n%s" file args p.ExitCode this.Output this.Errors

        this.Output

    interface IDisposable with
        member this.Dispose() =
            this.Stop()
            p.Dispose()

/// Runs `file args` in `directory` to its end: its output, or an error with it. Example:
/// `DocsKit.run root "dotnet" "build examples/Ddp -c Release"`.
let run directory file args (environment: (string * string) list) =
    use r = new Running(directory, file, args, environment)
    r.Finish()

/// A loopback port nothing listens on now. Example: `DocsKit.freePort ()`.
let freePort () =
    let l = new Net.Sockets.TcpListener(Net.IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> Net.IPEndPoint).Port
    l.Stop()
    port
