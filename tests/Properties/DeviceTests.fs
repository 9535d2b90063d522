/// Devices as PyTorch users know them: spelling and parsing, the default device and its scopes,
/// and a clear refusal, naming the op and the device, wherever a device that does not exist
/// here is asked for (creation, copies, modules), with nothing half-done.
module Cotangent.Tests.DeviceTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Tests.Check

let private cuda0 = Device.Cuda 0

let parsing =
    testList
        "device names"
        [ test "PyTorch's spellings parse and print back" {
              Expect.equal (Device.Parse "cpu") Device.Cpu "cpu"
              Expect.equal (Device.Parse "cuda") (Device.Cuda 0) "cuda is ordinal 0"
              Expect.equal (Device.Parse " CUDA:3 ") (Device.Cuda 3) "case and spaces"
              Expect.equal (string (Device.Parse "cuda:12")) "cuda:12" "printed back"
              Expect.equal (string Device.Cpu) "cpu" "cpu"
          }
          test "names that are no device are refused by name" {
              for bad in [ "cpu:1"; "gpu"; "cuda:"; "cuda:x"; "cuda:-1"; "cuda:+1"; "" ] do
                  throwsWith<OpArgumentException, _> (fun () -> Device.Parse bad) [ "device:" ]

              throwsWith<OpArgumentException, _> (fun () -> Device.Cuda -1) [ "device:"; "-1" ]
          } ]

let defaults =
    testList
        "the default device"
        [ test "is the CPU, and a scope sets it for its flow until disposed" {
              Expect.equal Device.Default Device.Cpu "cpu at start"

              using (Device.UseDefault Device.Cpu) (fun _ ->
                  Expect.equal Device.Default Device.Cpu "inside"
                  Expect.equal (Tensor.Zeros 2).Device Device.Cpu "creation follows it")

              Expect.equal Device.Default Device.Cpu "after"
          }
          test "a device that does not exist cannot become the default" {
              throwsWith<DeviceUnavailableException, _> (fun () -> Device.UseDefault cuda0) [ "cuda:0" ]
              throwsWith<DeviceUnavailableException, _> (fun () -> Device.Default <- cuda0) [ "cuda:0" ]
              Expect.equal Device.Default Device.Cpu "unchanged"
          } ]

let unavailable =
    testList
        "a device that does not exist here"
        [ test "creation functions name themselves and the device" {
              let cases: (string * (unit -> Tensor)) list =
                  [ "zeros", (fun () -> Tensor.Zeros([| 2 |], device = cuda0))
                    "ones", (fun () -> Tensor.Ones([| 2 |], DType.Float64, cuda0))
                    "full", (fun () -> Tensor.Full([| 2 |], 3.0, device = cuda0))
                    "scalar", (fun () -> Tensor.Scalar(1.0, device = cuda0))
                    "arange", (fun () -> Tensor.Arange(5, device = cuda0))
                    "linspace", (fun () -> Tensor.Linspace(0.0, 1.0, 3, device = cuda0))
                    "eye", (fun () -> Tensor.Eye(2, device = cuda0))
                    "rand", (fun () -> Tensor.Rand([| 2 |], device = cuda0))
                    "randn", (fun () -> Tensor.Randn([| 2 |], device = cuda0))
                    "randint", (fun () -> Tensor.Randint(0L, 5L, [| 2 |], device = cuda0))
                    "from_array", (fun () -> Tensor.FromArray([| 1.0; 2.0 |], [| 2 |], cuda0)) ]

              for name, make in cases do
                  throwsWith<DeviceUnavailableException, _> make [ name + ":"; "cuda:0" ]
          }
          test "a copy to it names to_device; a copy to where a tensor is returns the tensor itself" {
              let x = Tensor.From(1.0, 2.0)
              throwsWith<DeviceUnavailableException, _> (fun () -> x.To cuda0) [ "to_device:"; "cuda:0" ]
              throwsWith<DeviceUnavailableException, _> (fun () -> x.Cuda 1) [ "to_device:"; "cuda:1" ]
              Expect.isTrue (obj.ReferenceEquals(x.To Device.Cpu, x)) "torch returns self"
              Expect.isTrue (obj.ReferenceEquals(x.Cpu(), x)) "cpu()"
          }
          test "moving a module there changes no parameter, and an empty module is refused too" {
              let net = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
              let before = net.Parameters() |> Seq.map (fun p -> p.Value) |> Array.ofSeq
              throwsWith<DeviceUnavailableException, _> (fun () -> net.To cuda0) [ "cuda:0" ]
              let after = net.Parameters() |> Seq.map (fun p -> p.Value) |> Array.ofSeq
              Expect.isTrue (Array.forall2 (fun a b -> obj.ReferenceEquals(a, b)) before after) "untouched"
              throwsWith<DeviceUnavailableException, _> (fun () -> Sequential().Cuda()) [ "module.to:"; "cuda:0" ]
          }
          test "the F# functions refuse it as the C# ones do" {
              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.zerosOn cuda0 [ 2 ])
                  [ "zeros:" ]

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.randnOn cuda0 [ 2 ])
                  [ "randn:" ]

              let x = Tensor.From(1.0f)

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.toDevice cuda0 x)
                  [ "to_device:" ]

              Expect.isTrue (obj.ReferenceEquals(Cotangent.FSharp.Tensor.toDevice Device.Cpu x, x)) "itself"
          }
          test "to_device is a registered op" {
              Expect.isSome (OpRegistry.Find "to_device" |> Option.ofObj) "registered"
          } ]

let tests = testList "devices" [ parsing; defaults; unavailable ]
