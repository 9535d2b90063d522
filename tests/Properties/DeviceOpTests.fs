/// Every registered op on a simulated device (ILGPU's CPU accelerator running the CUDA
/// backend's kernels) against the CPU: the same case built from the same seed on each device,
/// the outputs and the pullbacks of one cotangent compared, float64 to 1e-10 and float32 to
/// 1e-4. The list comes from the registry, so an op that runs on the CPU but has no kernel on
/// the simulated device fails here, by name.
module Cotangent.Tests.DeviceOpTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.Testing
open Cotangent.Testing.Sampling
open Cotangent.Testing.OpCases
open Cotangent.Testing.GradCheck

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 8 }

/// The case's output and, for a differentiable op, its pullback of a cotangent drawn from the
/// seed, all built and computed on the device, read back as floats.
let private runOn (device: Device) (c: OpCase) (dtype: DType) differentiable (seed: int) =
    use _ = Device.UseDefault device
    let s = c.Build(Random seed)

    let xs =
        s.Inputs |> List.map (fun x -> if x.DType.IsFloating() then x.To dtype else x)

    for x in xs do
        if x.Device <> device then
            failf "the case built an input on %O under default device %O" x.Device device

    if differentiable then
        let y, pb = pullback s.Apply xs
        let v = (tensorIn (Random(seed + 1)) Real y.Shape).To y.DType

        if y.Device <> device then
            failf "%s on %O returned a tensor on %O" c.Name device y.Device

        toF y :: (pb v |> List.map toF)
    else
        [ toF (eval s.Apply xs) ]

let private agrees (device: Device) (c: OpCase) (dtype: DType) differentiable tol seed =
    let onCpu = runOn Device.Cpu c dtype differentiable seed
    let onSim = runOn device c dtype differentiable seed

    List.zip onCpu onSim
    |> List.iteri (fun i (expected, actual) ->
        let what =
            if i = 0 then
                "output"
            else
                sprintf "Jᵀv for input %d" (i - 1)

        expectClose (sprintf "%s on %O vs cpu, %s" c.Name device what) tol expected actual)

/// The suite on one device: a simulated one in CI, cuda:0 in the GPU check.
let on (device: Device) =
    testList
        (sprintf "ops on %O" device)
        [ for op in OpRegistry.All do
              match Map.tryFind op.Name byName with
              | None ->
                  test op.Name {
                      failtestf "%s is registered but has no case in OpCases, so nothing checks it on %O" op.Name device
                  }
              | Some c ->
                  let differentiable = op.Kind <> OpKind.NonDifferentiable

                  testList
                      op.Name
                      [ testPropertyWithConfig config "float64 as on cpu" (fun (NonNegativeInt seed) ->
                            agrees device c DType.Float64 differentiable 1e-10 seed)
                        testPropertyWithConfig config "float32 as on cpu" (fun (NonNegativeInt seed) ->
                            agrees device c DType.Float32 differentiable 1e-4 seed) ] ]

let tests = on (Device.Simulated 0)
