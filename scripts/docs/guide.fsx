// Writes the README's sections into docs/guide/ as the site's Guide pages (build.sh runs it
// before fsdocs; the folder is ignored): the README stays the one text to keep true, and the
// site shows it split by subject.
//   dotnet fsi scripts/docs/guide.fsx
open System
open System.IO
open System.Text.RegularExpressions

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "../.."))
// the repository's address, from the one place it is set
let repo =
    let props = File.ReadAllText(Path.Combine(root, "Directory.Build.props"))
    let m = Regex.Match(props, "<RepositoryUrl>([^<]+)</RepositoryUrl>")

    if not m.Success then
        failwith "guide.fsx: Directory.Build.props sets no <RepositoryUrl>"

    m.Groups.[1].Value.TrimEnd '/' + "/blob/main/"

/// Each page: its file, title, and the README headings (## or ###) it takes, in order.
let pages =
    [ "install",
      "Install and first steps",
      [ "Install"
        "The two commands"
        "Quickstart"
        "F# Interactive"
        "Use the packages" ]
      "api-tour",
      "API tour: C# and F#",
      [ "Tensors"
        "Ops"
        "Autograd, imperative (PyTorch)"
        "Autograd, functional (JAX)"
        "Errors"
        "F# DSL (`Cotangent.FSharp`)" ]
      "devices", "Devices", [ "Devices" ]
      "parallel", "Parallel training", [ "Parallel training (`Cotangent.Distributed`)" ]
      "toolkit",
      "Training toolkit and property kit",
      [ "Training toolkit (`Cotangent.Nn`, `Cotangent.Io`)"
        "Property-testing kit (`src/Testing.FSharp`, `Cotangent.Testing`)"
        "Examples that train and serve" ]
      "benchmarks", "Benchmarks", [ "Benchmarks" ]
      "development",
      "Tests, layout and what is missing",
      [ "Tests"
        "Formatting"
        "Documentation site"
        "Layout"
        "What is not here yet" ] ]

let lines = File.ReadAllLines(Path.Combine(root, "README.md"))
let heading = Regex(@"^(#{2,3}) (.+)$")
let mutable inFence = false

// the README cut at its ## and ### headings (outside code fences): (title, lines under it)
let sections =
    let acc = ResizeArray<string * ResizeArray<string>>()

    for line in lines do
        if line.TrimStart().StartsWith "```" then
            inFence <- not inFence

        let m = heading.Match line

        if not inFence && m.Success then
            acc.Add((m.Groups.[2].Value, ResizeArray()))
        elif acc.Count > 0 then
            (snd acc.[acc.Count - 1]).Add line

    match acc |> Seq.countBy fst |> Seq.tryFind (fun (_, n) -> n > 1) with
    | Some(t, _) -> failwithf "guide.fsx: the README has two sections '%s'; links to them would be ambiguous" t
    | None -> ()

    acc |> Seq.map (fun (t, b) -> t, List.ofSeq b) |> Map.ofSeq

/// GitHub's anchor for a heading (the README's links): lower case, punctuation dropped, spaces as dashes.
let slug (title: string) =
    Regex.Replace(title.ToLowerInvariant(), @"[^\p{L}\p{N} _-]", "").Replace(' ', '-')

/// fsdocs' anchor for the same heading (FSharp.Formatting's formatAnchor): the words of its
/// text outside inline code, case kept, joined by dashes.
let fsdocsAnchor (title: string) =
    Regex.Matches(Regex.Replace(title, "`[^`]*`", ""), @"\w+")
    |> Seq.map _.Value
    |> String.concat "-"

/// For each README anchor: the page holding that heading, and the anchor there (none on a page
/// of one section, which writes no heading of its own for it).
let pageOf =
    [ for file, _, titles in pages do
          for t in titles -> slug t, (file, (if titles.Length > 1 then "#" + fsdocsAnchor t else "")) ]
    |> Map.ofList

let taken = pages |> List.collect (fun (_, _, t) -> t) |> Set.ofList

let left =
    sections
    |> Map.toList
    |> List.map fst
    |> List.filter (fun t -> not (taken.Contains t) && t <> "API tour")

if not left.IsEmpty then
    failwithf "guide.fsx: README sections on no page: %s (add them to a page here)" (String.Join(", ", left))

for _, _, titles in pages do
    for t in titles do
        if not (sections.ContainsKey t) then
            failwithf "guide.fsx: the README has no section '%s' any more (update the pages here)" t

// links: README anchors go to the page holding that heading, repository paths to GitHub
let link = Regex(@"\]\(([^)\s]+)\)")

let relink (line: string) =
    link.Replace(
        line,
        fun (m: Match) ->
            let u = m.Groups.[1].Value

            if u.StartsWith "#" then
                match pageOf.TryFind(u.Substring 1) with
                | Some(file, anchor) -> sprintf "](%s.html%s)" file anchor
                | None -> failwithf "guide.fsx: the README links to %s, a heading no page holds" u
            elif Regex.IsMatch(u, "^[a-zA-Z][a-zA-Z0-9+.-]*:") then
                m.Value
            else
                sprintf "](%s%s)" repo u
    )

let dir = Path.Combine(root, "docs", "guide")

if Directory.Exists dir then
    Directory.Delete(dir, true)

Directory.CreateDirectory dir |> ignore

pages
|> List.iteri (fun i (file, title, titles) ->
    let body =
        [ yield "---"
          yield sprintf "title: %s" title
          yield "category: Guide"
          yield "categoryindex: 1"
          yield sprintf "index: %d" (i + 1)
          yield "---"
          yield sprintf "# %s" title
          yield ""
          yield "*This page is the README's section on the subject, as of the commit the site was built from.*"
          yield ""
          for t in titles do
              if titles.Length > 1 then
                  yield sprintf "## %s" t

              for line in sections.[t] do
                  yield relink line ]

    File.WriteAllLines(Path.Combine(dir, file + ".md"), body))

printfn "guide: %d pages from README.md into docs/guide" pages.Length
