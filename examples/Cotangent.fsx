// Loads Cotangent into F# Interactive and registers a tensor printer.
// Build once first:   dotnet tool restore && dotnet build src/Dsl.FSharp
// Then, in a script:  #load "Cotangent.fsx"   (or in dotnet fsi:  #load "examples/Cotangent.fsx";;)
#r "../src/Dsl.FSharp/bin/Debug/net10.0/Cotangent.dll"
#r "../src/Dsl.FSharp/bin/Debug/net10.0/Cotangent.FSharp.dll"

// FSI shows `val x: Tensor = tensor([...], shape=[3], dtype=float32, device=cpu)`
fsi.AddPrinter(fun (t: Cotangent.Tensor) -> t.ToString())
