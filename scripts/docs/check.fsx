// Checks a built site (scripts/docs/build.sh runs it): public members without docs in fsdocs'
// log, internal links and images that point at nothing, and pages without text.
//   dotnet fsi scripts/docs/check.fsx out/site fsdocs.log
open System
open System.IO
open System.Text.RegularExpressions

let site, log =
    match fsi.CommandLineArgs with
    | [| _; site; log |] -> Path.GetFullPath site, log
    | _ -> failwith "usage: dotnet fsi scripts/docs/check.fsx <site folder> <fsdocs log>"

let failures = ResizeArray<string>()

// 1. fsdocs' FD0001 names each public member without an XML doc comment. Not counted, each by
//    name so that a new one fails until it is looked at: what the compilers generate, which has
//    no source to document (an enum's value__; the equality, ToString, Deconstruct and Clone of
//    the positional records; the Is<Case> testers of the F# unions), and the members that are
//    documented but that fsdocs looks up under another signature than the C# compiler writes,
//    so their pages show no summary (implicit conversions, whose C# id ends in ~ReturnType, and
//    two-dimensional arrays, [0:,0:] in C# and [0:] in fsdocs).
let records =
    [ @"Cotangent\.OpInfo"
      @"Cotangent\.Device"
      @"Cotangent\.Nn\.RecurrentOutput" ]

let unions = [ @"Cotangent\.Testing\.Sampling\.Domain" ]

let generated =
    Regex(
        String.concat
            "|"
            [ @"^'F:[^']*\.value__'$"
              sprintf
                  @"^'M:(%s)\.(<Clone>\$|Deconstruct\(.*\)|op_Equality\(.*\)|op_Inequality\(.*\)|Equals\(.*\)|GetHashCode|ToString|PrintMembers\(.*\))'$"
                  (String.concat "|" records)
              sprintf @"^'P:(%s)\.Is[A-Z]\w*'$" (String.concat "|" unions)
              @"^'M:Cotangent\.Tensor\.From\(System\.(Single|Double|Int64)\[0:\],System\.Nullable\{Cotangent\.Device\}\)'$"
              @"^'M:Cotangent\.TensorIndex\.op_Implicit\((Cotangent\.Tensor|System\.Index|System\.Int32|System\.Range)\)'$" ]
    )

let undocumented = Regex(@"no documentation for ('[^']*')")

for line in File.ReadLines log do
    let m = undocumented.Match line

    if
        line.Contains "warning FD0001"
        && not (m.Success && generated.IsMatch m.Groups.[1].Value)
    then
        failures.Add(sprintf "undocumented: %s" (line.Substring(max 0 (line.IndexOf "no documentation for"))))
    // fsdocs' reader gave up on a member (its docs are missing from the page), e.g. a public
    // iterator method, whose [IteratorStateMachine(typeof(...))] it cannot read
    elif line.StartsWith "Could not read comments from entity" then
        let entity = Regex.Match(line, "entity '([^']*)'").Groups.[1].Value
        // fsdocs 22 reads no C# delegate ("not a delegate type"); such a type gets a page
        // written by hand under docs/reference, named as fsdocs would name it
        let page =
            Path.Combine(site, "reference", entity.ToLowerInvariant().Replace('.', '-') + ".html")

        if not (line.Contains "not a delegate type" && File.Exists page) then
            failures.Add(sprintf "unreadable by fsdocs: %s" (line.Substring(0, line.IndexOf ": System.")))

// 2. every href and src inside the site must name a file of the site, and a fragment (#name)
//    an anchor of that page (fsdocs writes <a name="..."> for headings, id="..." for members);
//    a template parameter left unfilled ({{...}}) is broken wherever it is
let attr = Regex(@"(?:href|src)\s*=\s*""([^""]*)""")
let anchor = Regex(@"\b(?:id|name)\s*=\s*""([^""]*)""")
let pages = Directory.GetFiles(site, "*.html", SearchOption.AllDirectories)
let anchorsOf = Collections.Generic.Dictionary<string, Set<string>>()

let anchors (page: string) =
    match anchorsOf.TryGetValue page with
    | true, a -> a
    | _ ->
        let a =
            anchor.Matches(File.ReadAllText page)
            |> Seq.map (fun m -> Net.WebUtility.HtmlDecode m.Groups.[1].Value)
            |> Set.ofSeq

        anchorsOf.[page] <- a
        a

let isExternal (u: string) =
    Regex.IsMatch(u, "^[a-zA-Z][a-zA-Z0-9+.-]*:") || u.StartsWith "//"

for page in pages do
    let html = File.ReadAllText page
    let here = Path.GetRelativePath(site, page)

    for m in attr.Matches html do
        let u = Net.WebUtility.HtmlDecode m.Groups.[1].Value

        if u.Contains "{{" then
            failures.Add(sprintf "unfilled template parameter in %s: %s" here u)
        // a source link fsdocs made without a source file (build.sh removes those)
        elif u.Contains "/startup#" then
            failures.Add(sprintf "source link to no file in %s: %s" here u)
        elif u <> "" && not (isExternal u) then
            let path, fragment =
                match u.Split('?').[0].Split('#', 2) with
                | [| p |] -> p, None
                | [| p; f |] -> p, Some(Uri.UnescapeDataString f)
                | _ -> u, None

            let target =
                if path = "" then
                    Some page
                else
                    let full =
                        if path.StartsWith "/" then
                            Path.Combine(site, path.TrimStart '/')
                        else
                            Path.Combine(Path.GetDirectoryName page, path)

                    let full = Uri.UnescapeDataString(Path.GetFullPath full)

                    if File.Exists full then
                        Some full
                    elif File.Exists(Path.Combine(full, "index.html")) then
                        Some(Path.Combine(full, "index.html"))
                    else
                        None

            match target, fragment with
            | None, _ -> failures.Add(sprintf "broken link in %s: %s" here u)
            | Some t, Some f when f <> "" && t.EndsWith ".html" && not ((anchors t).Contains f) ->
                failures.Add(sprintf "link to a missing anchor in %s: %s" here u)
            | _ -> ()

    // 3. a page whose own content (inside the template's <div id="content">) is empty
    let content =
        match html.IndexOf "<div id=\"content\">" with
        | -1 -> html
        | i ->
            match html.IndexOf("</main>", i) with
            | -1 -> html.Substring i
            | j -> html.Substring(i, j - i)

    let text =
        Regex.Replace(Regex.Replace(content, "(?s)<(script|style)[^>]*>.*?</\\1>", ""), "<[^>]+>", " ")

    if String.IsNullOrWhiteSpace(Net.WebUtility.HtmlDecode text) then
        failures.Add(sprintf "empty page: %s" here)

if pages.Length = 0 then
    failures.Add(sprintf "no pages in %s" site)

if failures.Count > 0 then
    failures |> Seq.truncate 200 |> Seq.iter (eprintfn "docs check: %s")
    eprintfn "docs check: %d problem(s) in %s" failures.Count site
    exit 1

printfn "docs check: %d pages, every internal link, anchor and image found, every public member documented" pages.Length
