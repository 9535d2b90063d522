/// What the site's tutorials use besides Cotangent: pictures turned into HTML the page embeds,
/// and the autograd graph's DOT text rendered by Graphviz. Not part of any package.
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
