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

// 1. fsdocs' FD0001 names each public member without an XML doc comment. Not counted: members
//    the compilers generate (an enum's value__, a record's equality, ToString, Deconstruct and
//    Clone, an F# union's Is<Case> testers), which have no source to document, and the two
//    kinds whose documented members fsdocs looks up under a signature other than the one the C#
//    compiler writes (implicit conversions, whose C# signature ends in ~ReturnType, and
//    multidimensional arrays, [0:,0:] in C# and [0:] in fsdocs).
let generated =
    Regex(
        @"value__'|\.(Equals|GetHashCode|Deconstruct|op_Equality|op_Inequality|PrintMembers|get_EqualityContract)\b|\.<Clone>\$'|\.EqualityContract'|\.ToString'$"
        + @"|'P:[^']*\.Is[A-Z]\w*'$|\.op_Implicit\(|\[0:\]"
    )

for line in File.ReadLines log do
    if line.Contains "warning FD0001" && not (generated.IsMatch(line.Trim())) then
        failures.Add(sprintf "undocumented: %s" (line.Substring(line.IndexOf "no documentation for")))
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

// 2. every href and src inside the site must name a file of the site
let attr = Regex("""(?:href|src)\s*=\s*"([^"]*)" """.Trim())

let isExternal (u: string) =
    u = ""
    || u.StartsWith "#"
    || Regex.IsMatch(u, "^[a-zA-Z][a-zA-Z0-9+.-]*:")
    || u.StartsWith "//"
    || u.Contains "{{"

let pages = Directory.GetFiles(site, "*.html", SearchOption.AllDirectories)

for page in pages do
    let html = File.ReadAllText page

    for m in attr.Matches html do
        let u = Net.WebUtility.HtmlDecode m.Groups.[1].Value

        // a source link fsdocs made without a source file (build.sh removes those)
        if u.Contains "/startup#" then
            failures.Add(sprintf "source link to no file in %s: %s" (Path.GetRelativePath(site, page)) u)

        if not (isExternal u) then
            let path = u.Split('#', '?').[0]

            if path <> "" then
                let target =
                    if path.StartsWith "/" then
                        Path.Combine(site, path.TrimStart '/')
                    else
                        Path.Combine(Path.GetDirectoryName page, path)

                let target = Uri.UnescapeDataString(Path.GetFullPath target)

                if not (File.Exists target || File.Exists(Path.Combine(target, "index.html"))) then
                    failures.Add(sprintf "broken link in %s: %s" (Path.GetRelativePath(site, page)) u)

    // 3. a page whose text is empty once tags are gone
    let text =
        Regex.Replace(Regex.Replace(html, "(?s)<(script|style)[^>]*>.*?</\\1>", ""), "<[^>]+>", " ")

    if String.IsNullOrWhiteSpace text then
        failures.Add(sprintf "empty page: %s" (Path.GetRelativePath(site, page)))

if pages.Length = 0 then
    failures.Add(sprintf "no pages in %s" site)

if failures.Count > 0 then
    failures |> Seq.truncate 200 |> Seq.iter (eprintfn "docs check: %s")
    eprintfn "docs check: %d problem(s) in %s" failures.Count site
    exit 1

printfn "docs check: %d pages, every internal link and image found, every public member documented" pages.Length
