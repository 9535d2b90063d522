// Loads Cotangent into F# Interactive and registers a tensor printer.
// Build once first, in either configuration:
//   dotnet tool restore && dotnet build src/Dsl.FSharp        (or add -c Release)
// Then, in a script:  #load "Cotangent.fsx"   (or in dotnet fsi:  #load "examples/Cotangent.fsx";;)
// The build copies its latest output to src/Dsl.FSharp/bin/fsi, whichever configuration it was.
// Outside this repository, use the packages instead: #r "nuget: Cotangent.FSharp" (see the README).
#r "../src/Dsl.FSharp/bin/fsi/Cotangent.dll"
#r "../src/Dsl.FSharp/bin/fsi/Cotangent.FSharp.dll"

// FSI shows `val x: Tensor = tensor([...], shape=[3], dtype=float32, device=cpu)`
fsi.AddPrinter(fun (t: Cotangent.Tensor) -> t.ToString())
