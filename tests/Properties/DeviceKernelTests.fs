/// The device kernels at sizes the op suite's small cases do not reach (long rows, whole-tensor
/// reductions, many repeated indices, empty products, int64 edge cases), each against the CPU
/// and run twice for the same bits. A simulated device in CI; cuda:0 in the GPU check.
module Cotangent.Tests.DeviceKernelTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

let on (sim: Device) =
    // tests run in parallel: each draw has a generator of its own, seeded by the shape
    let data (shape: int[]) =
        let r = Random(Array.sum shape)
        Tensor.FromArray(Array.init (Array.reduce (*) shape) (fun _ -> r.NextDouble() * 4.0 - 2.0), shape)

    let bits (t: Tensor) =
        t.ToArray<float>() |> Array.map BitConverter.DoubleToInt64Bits

    let within tol name (f: Tensor -> Tensor) (x: Tensor) =
        let cpu = f x
        let once, twice = f (x.To sim), f (x.To sim)
        Expect.equal once.Device sim (name + ": stays on the device")
        near tol (values cpu) once (sprintf "%s on %O vs cpu" name sim)
        Expect.equal (bits twice) (bits once) (name + ": the same bits on every run")

    let same = within 1e-12

    testList
        (sprintf "kernels at size on %O" sim)
        [ test "reductions of long rows, whole tensors and few rows, in a fixed order" {
              let x = data [| 3; 5000 |]
              same "sum of everything" (fun t -> t.Sum()) x
              same "sum of each row" (fun t -> t.Sum(1)) x
              same "max of each row" (fun t -> t.Max(1)) x
              same "min of everything" (fun t -> t.Min()) x
              same "prod of each column" (fun t -> (t * 0.001 + 1.0).Prod(0)) x
              same "mean of 40,000" (fun t -> t.Mean()) (data [| 40000 |])
          }
          test "batch norm over long channels (a thread each), forward and pullback" {
              let x = data [| 8; 3; 700 |]
              same "batch_norm of [8, 3, 700]" (fun t -> Tensor.BatchNorm t) x
              same "batch_norm_backward of [8, 3, 700]" (fun t -> Tensor.BatchNormBackward(t * 0.5 + 1.0, t)) x
              same "batch_norm of [600, 5]" (fun t -> Tensor.BatchNorm t) (data [| 600; 5 |])

              // a plain backward pass: ∂x, ∂γ, ∂β from the one joint kernel
              same
                  "batch_norm's ∂x, ∂γ, ∂β"
                  (fun t ->
                      let x = t.Detach().RequireGrad()
                      let weight = (t.Sum(0).Sum(1) * 0.01 + 1.0).Detach().RequireGrad()
                      let bias = (t.Sum(0).Sum(1) * 0.1).Detach().RequireGrad()
                      (Tensor.BatchNorm(x, weight, bias) * (t * 0.5 + 1.0)).Sum().Backward()
                      Tensor.Cat [| x.Grad.Flatten(); weight.Grad; bias.Grad |])
                  x
          }
          test "log_softmax and softmax of long rows, their gradient too" {
              let x = data [| 4; 1000 |]
              same "log_softmax" (fun t -> t.LogSoftmax(1)) x
              same "softmax over the first axis" (fun t -> t.Softmax(0)) x
              same "log_softmax's Jᵀv" (fun t -> Autograd.Grad((fun (z: Tensor) -> (z.LogSoftmax(1) * z).Sum()), t)) x
          }
          test "index_add with many repeated indices adds in index order" {
              let src = data [| 2; 500; 3 |]

              let index =
                  Tensor.FromArray(Array.init 500 (fun i -> int64 ((i * 7 + i / 3) % 9)), [| 500 |])

              let cpu = Tensor.IndexAdd([| 2; 9; 3 |], 1, index, src)

              let run () =
                  Tensor.IndexAdd([| 2; 9; 3 |], 1, index.To sim, src.To sim)

              near 1e-12 (values cpu) (run ()) (sprintf "index_add on %O vs cpu" sim)
              Expect.equal (bits (run ())) (bits (run ())) "the same bits on every run"

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> Tensor.IndexAdd([| 2; 8; 3 |], 1, index.To sim, src.To sim))
                  [ "index_add:"; "index 8"; "size 8" ]
          }
          test "an embedding's gradient on the device: rows picked many times" {
              let weight = data [| 50; 4 |]
              let ids = Tensor.FromArray(Array.init 300 (fun i -> int64 (i * i % 50)), [| 300 |])

              let g (w: Tensor) (i: Tensor) =
                  Autograd.Grad((fun (z: Tensor) -> (z.IndexSelect(0, i) * 3.0).Sum()), w)

              let cpu = g weight ids
              let onSim = g (weight.To sim) (ids.To sim)
              near 1e-12 (values cpu) onSim "embedding gradient"
          }
          test "products past one tile: batched, transposed, ragged edges" {
              let a = data [| 3; 37; 45 |]
              let b = data [| 3; 45; 21 |]
              same "batched matmul" (fun t -> Tensor.MatMul(t, b.To t.Device)) a
              same "with a transposed right side" (fun t -> Tensor.MatMul(t, (data [| 21; 45 |]).To(t.Device).T)) a

              same
                  "with a transposed left side"
                  (fun t -> Tensor.MatMul(t.Transpose(1, 2), (data [| 37; 16 |]).To t.Device))
                  a

              within
                  1e-5
                  "float32 as well"
                  (fun t -> Tensor.MatMul(t.To DType.Float32, (b.To t.Device).To DType.Float32).To DType.Float64)
                  a
          }
          test "a product over an empty inner axis is zeros, transposed operands too" {
              let a = Tensor.Zeros([| 0; 3 |], DType.Float64, sim).T
              let b = Tensor.Zeros([| 0; 2 |], DType.Float64, sim)
              let c = Tensor.MatMul(a, b)
              Expect.equal c.Shape [| 3; 2 |] "shape"
              Expect.equal (c.ToArray<float>()) (Array.zeroCreate 6) "zeros"
          }
          test "casts and int64 edge cases match the CPU's .NET semantics" {
              let big = 9007199791611905L // 2⁵³ + 2²⁹ + 1: one rounding to float32 differs from two
              let there = Tensor.From(big, -big).To(sim).To(DType.Float32).ToArray<float32>()
              Expect.equal there [| float32 big; float32 -big |] "int64 → float32 rounds once"
              let abs = Tensor.From(Int64.MinValue, -3L).To(sim).Abs().ToArray<int64>()
              Expect.equal abs [| Int64.MinValue; 3L |] "|least| wraps, as in PyTorch"
              Expect.equal (Tensor.From(Int64.MinValue).Abs().Item<int64>()) Int64.MinValue "on the CPU too"

              let fd =
                  Tensor.FloorDivide(Tensor.From(1.0f, -7.5f).To sim, Tensor.From(0.1f, 2f).To sim).ToArray<float32>()

              Expect.equal fd [| 9f; -4f |] "float32 floor division floors the exact quotient"
          } ]

/// Every device kernel compiled to PTX by ILGPU's CUDA backend, here, without a GPU: the
/// simulated device runs the kernels as .NET code and would accept what ILGPU cannot compile
/// for a GPU (an allocation, a virtual call, a managed array). Each generic kernel is compiled
/// for every element type its arithmetic serves.
let compiledForCuda =
    test "every device kernel compiles for CUDA (PTX for sm_90), without a GPU" {
        let asm = typeof<Tensor>.Assembly
        let deviceCode = asm.GetType("Cotangent.Backends.Gpu.DeviceCode", true)
        let arithOf = asm.GetType("Cotangent.Backends.Gpu.IArith`1", true)
        // (element, arithmetic) pairs: F32 serves float, F64 double, I64 long, Bool8 byte
        let ariths =
            [ for t in asm.GetTypes() do
                  for i in t.GetInterfaces() do
                      if t.IsValueType && i.IsGenericType && i.GetGenericTypeDefinition() = arithOf then
                          yield i.GetGenericArguments().[0], t ]

        Expect.isGreaterThanOrEqual ariths.Length 4 "the arithmetic structs were found"

        /// Type arguments for a generic kernel: each element parameter takes a type in turn and an
        /// IArith<T>-constrained one the struct serving it.
        let instantiations (m: Reflection.MethodInfo) =
            let ps = m.GetGenericArguments()

            let servedBy (p: Type) =
                p.GetGenericParameterConstraints()
                |> Array.tryPick (fun c ->
                    if c.IsGenericType && c.GetGenericTypeDefinition() = arithOf then
                        Some(c.GetGenericArguments().[0].GenericParameterPosition)
                    else
                        None)

            let rec assign i (chosen: Map<int, Type * Type>) =
                if i = ps.Length then
                    [ chosen ]
                elif (servedBy ps.[i]).IsSome then
                    assign (i + 1) chosen
                else
                    ariths |> List.collect (fun pair -> assign (i + 1) (chosen.Add(i, pair)))

            // the normalisation kernels are launched for float32 and float64 only (GpuKernels' dispatch)
            let floatOnly =
                set [ "LayerNorm"; "LayerNormBackward"; "BatchNorm"; "BatchNormBackward" ]

            assign 0 Map.empty
            |> List.filter (fun chosen ->
                not (floatOnly.Contains m.Name)
                || chosen |> Map.forall (fun _ (e, _) -> e = typeof<float32> || e = typeof<float>))
            |> List.map (fun chosen ->
                ps
                |> Array.mapi (fun i p ->
                    match servedBy p with
                    | Some e -> snd chosen.[e]
                    | None -> fst chosen.[i]))

        let kernels =
            deviceCode.GetMethods(Reflection.BindingFlags.Public ||| Reflection.BindingFlags.Static)
            |> Array.filter (fun m -> m.ReturnType = typeof<Void> && m.DeclaringType = deviceCode)
            |> Array.collect (fun m ->
                if m.IsGenericMethodDefinition then
                    instantiations m
                    |> List.map (fun args -> m.MakeGenericMethod args)
                    |> Array.ofList
                else
                    [| m |])

        Expect.isGreaterThan kernels.Length 60 "the kernels were found"
        // as CudaDevices makes it: the CUDA backend with ILGPU.Algorithms' math intrinsics
        use context =
            ILGPU.Context.Create(fun b ->
                ILGPU.Runtime.Cuda.CudaContextExtensions.Cuda b
                |> ILGPU.AlgorithmContext.EnableAlgorithms
                |> ignore)

        use backend =
            new ILGPU.Backends.PTX.PTXBackend(
                context,
                ILGPU.Runtime.Cuda.CudaArchitecture.SM_90,
                ILGPU.Runtime.Cuda.CudaInstructionSet.ISA_80,
                null
            )

        let failures =
            [ for m in kernels do
                  try
                      let mutable entry =
                          ILGPU.Backends.EntryPoints.EntryPointDescription.FromExplicitlyGroupedKernel m

                      let mutable spec = ILGPU.Runtime.KernelSpecialization.Empty

                      let compiled =
                          backend.Compile(&entry, &spec) :?> ILGPU.Backends.PTX.PTXCompiledKernel

                      if not (compiled.PTXAssembly.Contains ".entry") then
                          yield sprintf "%O: no entry point in the PTX" m
                  with e ->
                      yield sprintf "%O: %s" m (e.GetBaseException().Message) ]

        Expect.isEmpty failures (sprintf "kernels ILGPU cannot compile for CUDA:\n%s" (String.Join("\n", failures)))
    }
