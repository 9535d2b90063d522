// What the site's scripts load, in their hidden first fragment: `#load "../../scripts/docs/refs.fsx"`.
// The three packages, FsCheck, ScottPlot and the kit's helpers, all from the folder build.sh
// builds (DocsKit.fsproj's bin/kit), and the spiral data set the training examples share.
#I "bin/kit"
#r "FsCheck.dll"
#r "ScottPlot.dll"
#r "Cotangent.dll"
#r "Cotangent.FSharp.dll"
#r "Cotangent.Testing.dll"
#r "Cotangent.DocsKit.dll"
#load "../../examples/Shared/Spirals.fs"
