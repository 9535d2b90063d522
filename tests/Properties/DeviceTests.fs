/// Devices as PyTorch users know them: spelling and parsing, the default device and its scopes,
/// and a clear refusal, naming the op and the device, wherever a device that does not exist
/// here is asked for (creation, copies, modules), with nothing half-done.
module Cotangent.Tests.DeviceTests

open System
open Expecto
open Cotangent
open Cotangent.Nn
open Cotangent.Tests.Check

/// A CUDA device this machine does not have (every one, where there is no driver).
let private missing = Device.Cuda Device.CudaCount
let private missingName = string missing

/// Makes a tensor outside any scope and drops it: only the GC can give its memory back.
[<System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)>]
let private dropOne (d: Device) (n: int) =
    Tensor.Zeros([| n |], device = d) |> ignore

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

let cuda =
    testList
        "CUDA devices"
        [ test "CUDA_VISIBLE_DEVICES reads as CUDA reads it" {
              let visible v n =
                  Backends.Gpu.CudaDevices.Visible(v, n) |> List.ofArray

              Expect.equal (visible null 3) [ 0; 1; 2 ] "unset: every device"
              Expect.equal (visible "" 3) [] "empty: none"
              Expect.equal (visible "2,0" 3) [ 2; 0 ] "a list renumbers: cuda:0 is the third"
              Expect.equal (visible " 1 , 2" 3) [ 1; 2 ] "spaces"
              Expect.equal (visible "1,-1,0" 3) [ 1 ] "an invalid entry hides the rest"
              Expect.equal (visible "0,gpu,1" 3) [ 0 ] "a word too"
              Expect.equal (visible "1,5,0" 3) [ 1 ] "so does an ordinal past the machine's"
              Expect.equal (visible "0,1,0" 3) [] "a repeated ordinal hides every device"
              Expect.equal (visible "1abc,2" 3) [ 1; 2 ] "entries are read by their leading digits"
              Expect.equal (visible "GPU-5e3f,0" 3) [] "a UUID needs the driver: it ends the list"
          }
          test "an error explains what CUDA_VISIBLE_DEVICES leaves" {
              Expect.stringContains
                  (Backends.Gpu.CudaDevices.Explain "1,0,x,2")
                  "physical devices 1, 0, renumbered"
                  "the list up to the bad entry"

              Expect.stringContains (Backends.Gpu.CudaDevices.Explain "") "hides every device" "empty"
              Expect.stringContains (Backends.Gpu.CudaDevices.Explain "0,0") "hides every device" "repeated"
          }
          test "the count is what the driver shows, and every device beyond it is refused with the reason" {
              Expect.equal
                  (Device.Available |> Seq.filter (fun d -> d.Type = DeviceType.Cuda) |> Seq.length)
                  Device.CudaCount
                  "listed"

              Expect.equal Device.Available.[0] Device.Cpu "the CPU first"

              let e =
                  Expect.throwsC (fun () -> Tensor.Zeros([| 1 |], device = missing) |> ignore) id

              Expect.stringContains e.Message (sprintf "zeros: %s is not available: " missingName) "names op and device"

              if Device.CudaCount = 0 then
                  Expect.stringContains e.Message "no CUDA driver" "and why, on a machine without one"
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
              throwsWith<DeviceUnavailableException, _> (fun () -> Device.UseDefault missing) [ missingName ]
              throwsWith<DeviceUnavailableException, _> (fun () -> Device.Default <- missing) [ missingName ]
              Expect.equal Device.Default Device.Cpu "unchanged"
          } ]

let unavailable =
    testList
        "a device that does not exist here"
        [ test "creation functions name themselves and the device" {
              let cases: (string * (unit -> Tensor)) list =
                  [ "zeros", (fun () -> Tensor.Zeros([| 2 |], device = missing))
                    "ones", (fun () -> Tensor.Ones([| 2 |], DType.Float64, missing))
                    "full", (fun () -> Tensor.Full([| 2 |], 3.0, device = missing))
                    "scalar", (fun () -> Tensor.Scalar(1.0, device = missing))
                    "arange", (fun () -> Tensor.Arange(5, device = missing))
                    "linspace", (fun () -> Tensor.Linspace(0.0, 1.0, 3, device = missing))
                    "eye", (fun () -> Tensor.Eye(2, device = missing))
                    "rand", (fun () -> Tensor.Rand([| 2 |], device = missing))
                    "randn", (fun () -> Tensor.Randn([| 2 |], device = missing))
                    "randint", (fun () -> Tensor.Randint(0L, 5L, [| 2 |], device = missing))
                    "from_array", (fun () -> Tensor.FromArray([| 1.0; 2.0 |], [| 2 |], missing)) ]

              for name, make in cases do
                  throwsWith<DeviceUnavailableException, _> make [ name + ":"; missingName ]
          }
          test "a copy to it names to_device; a copy to where a tensor is returns the tensor itself" {
              let x = Tensor.From(1.0, 2.0)
              throwsWith<DeviceUnavailableException, _> (fun () -> x.To missing) [ "to_device:"; missingName ]

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> x.Cuda(Device.CudaCount + 1))
                  [ "to_device:"; string (Device.Cuda(Device.CudaCount + 1)) ]

              Expect.isTrue (obj.ReferenceEquals(x.To Device.Cpu, x)) "torch returns self"
              Expect.isTrue (obj.ReferenceEquals(x.Cpu(), x)) "cpu()"
          }
          test "moving a module there changes no parameter, and an empty module is refused too" {
              let net = Sequential(Linear(2, 3), ReLU(), Linear(3, 1))
              let before = net.Parameters() |> Seq.map (fun p -> p.Value) |> Array.ofSeq
              throwsWith<DeviceUnavailableException, _> (fun () -> net.To missing) [ missingName ]
              let after = net.Parameters() |> Seq.map (fun p -> p.Value) |> Array.ofSeq
              Expect.isTrue (Array.forall2 (fun a b -> obj.ReferenceEquals(a, b)) before after) "untouched"

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Sequential().Cuda Device.CudaCount)
                  [ "module.to:"; missingName ]
          }
          test "the F# functions refuse it as the C# ones do" {
              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.zerosOn missing [ 2 ])
                  [ "zeros:" ]

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.randnOn missing [ 2 ])
                  [ "randn:" ]

              let x = Tensor.From(1.0f)

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> Cotangent.FSharp.Tensor.toDevice missing x)
                  [ "to_device:" ]

              Expect.isTrue (obj.ReferenceEquals(Cotangent.FSharp.Tensor.toDevice Device.Cpu x, x)) "itself"
          }
          test "to_device is a registered op" {
              Expect.isSome (OpRegistry.Find "to_device" |> Option.ofObj) "registered"
          } ]

let private sim0, sim1 = Device.Simulated 0, Device.Simulated 1

let private f64 (xs: float list) =
    Tensor.FromArray(Array.ofList xs, [| xs.Length |])

/// A small MLP and three SGD-with-momentum steps on a fixed batch, on the given device; the
/// parameters after, read back as floats. `moveAfter` moves the model (and so the optimizer's
/// state) to `device` after that many steps on the CPU.
let private train (device: Device) (moveAfter: int) =
    let net =
        Sequential(
            Linear(3, 4, generator = Generator 7UL, dtype = DType.Float64),
            Tanh(),
            Linear(4, 2, generator = Generator 8UL, dtype = DType.Float64)
        )

    let opt = Adam(net.Parameters(), 0.05, weightDecay = 0.01)
    let x = Tensor.Randn([| 5; 3 |], DType.Float64, Generator 9UL)
    let labels = Tensor.FromArray([| 0L; 1L; 1L; 0L; 1L |], [| 5 |])

    for step in 0..3 do
        if step = moveAfter then
            net.To device |> ignore

        let d = net.Parameters() |> Seq.head |> (fun p -> p.Value.Device)
        opt.ZeroGrad()
        let loss = Tensor.CrossEntropy(net.Forward(x.To d), labels.To d)
        loss.Backward()
        opt.Step()

    net.Parameters() |> Seq.map (fun p -> p.Value.ToArray<float>()) |> Array.concat

let simulated =
    testList
        "simulated devices"
        [ test "are spelled sim:N, eight of them" {
              Expect.equal (Device.Parse "sim:3") (Device.Simulated 3) "parse"
              Expect.equal (string (Device.Simulated 3)) "sim:3" "print"
              throwsWith<OpArgumentException, _> (fun () -> Device.Simulated 8) [ "device:"; "0 to 7" ]
              throwsWith<OpArgumentException, _> (fun () -> Device.Parse "sim:8") [ "device:" ]
          }
          test "every dtype goes there and back unchanged, strided views included" {
              let cases =
                  [ Tensor.From(1.5f, -2.25f, 3e-38f)
                    Tensor.From(Math.PI, -0.0, 1e300)
                    Tensor.From(Int64.MaxValue, Int64.MinValue, 0L)
                    Tensor.From(true, false, true)
                    Tensor.Arange(6.0, 0.0, -1.0, DType.Float64).Reshape(2, 3).T ]

              for x in cases do
                  let back = x.To(sim0).To(sim1).Cpu()
                  Expect.equal back.DType x.DType "dtype"
                  Expect.equal back.Shape x.Shape "shape"
                  Expect.equal (back.ToArray()) (x.ToArray()) (sprintf "%O values" x.DType)
                  Expect.equal (x.To(sim0).Device) sim0 "placed"

              // a view made on the device is read back through its strides, bit for bit (−0.0 too)
              let values = [| 0.5; -0.0; Double.Epsilon; -1e308; 7.0; Double.NaN |]
              let onSim = Tensor.FromArray(values, [| 2; 3 |], sim0).T

              let expected =
                  [| values.[0]; values.[3]; values.[1]; values.[4]; values.[2]; values.[5] |]

              let bits (a: float[]) =
                  a |> Array.map BitConverter.DoubleToInt64Bits

              Expect.equal (bits (onSim.ToArray<float>())) (bits expected) "transposed on sim:0"
              Expect.equal (bits (onSim.Cpu().ToArray<float>())) (bits expected) "moved as a view"

              let narrow = Tensor.Arange(10, DType.Int64, sim1).Slice(0, 1, 9, 3)
              Expect.equal (narrow.ToArray<int64>()) [| 1L; 4L; 7L |] "a stepped slice"
          }
          test "a device names itself and waits for its queued kernels" {
              Expect.equal Device.Cpu.Name "cpu" "cpu"
              Expect.stringContains sim0.Name "simulated GPU" "a simulated one says so"
              let y = (Tensor.Ones([| 1000 |], device = sim0) * 2.0).Sum()
              sim0.Synchronize()
              Expect.equal (y.Item<float32>()) 2000f "the queued work is done"
              Device.Cpu.Synchronize()

              throwsWith<DeviceUnavailableException, _>
                  (fun () -> missing.Synchronize())
                  [ "synchronize:"; missingName ]

              throwsWith<DeviceUnavailableException, _> (fun () -> missing.Name) [ "device_name:"; missingName ]
          }
          test "creation on a simulated device gives the values the CPU gets from the same seed" {
              let a = Tensor.Randn([| 3; 2 |], DType.Float64, Generator 3UL, sim0)
              let b = Tensor.Randn([| 3; 2 |], DType.Float64, Generator 3UL)
              Expect.equal a.Device sim0 "there"
              Expect.equal (a.ToArray<float>()) (b.ToArray<float>()) "same values"
              Expect.equal (Tensor.Eye(2, device = sim1).ToArray<float32>()) [| 1f; 0f; 0f; 1f |] "eye"

              using (Device.UseDefault sim1) (fun _ -> Expect.equal (Tensor.Zeros 2).Device sim1 "the default")

              Expect.stringContains (string (Tensor.Ones([| 2 |], device = sim0))) "device=sim:0" "printed"
          }
          test "ops across devices are refused by name, with both devices; nothing is copied" {
              let a, b = f64 [ 1.0; 2.0 ], (f64 [ 3.0; 4.0 ]).To sim0
              throwsWith<DeviceMismatchException, _> (fun () -> a + b) [ "add:"; "cpu"; "sim:0" ]
              throwsWith<DeviceMismatchException, _> (fun () -> b * b.To sim1) [ "mul:"; "sim:0"; "sim:1" ]

              throwsWith<DeviceMismatchException, _>
                  (fun () -> Tensor.MatMul(b.Reshape(1, 2), a.Reshape(2, 1)))
                  [ "matmul:" ]
          }
          test "a backend refuses another device's buffer even where the simulator could read it" {
              let onSim1 = (f64 [ 1.0 ]).To sim1
              let kernels = Backends.Backend.For(sim0, "test")

              throwsWith<DeviceMismatchException, _>
                  (fun () -> kernels.Unary(Backends.UnaryKind.Exp, onSim1.View))
                  [ "sim:1"; "sim:0" ]
          }
          test "to_device carries the gradient home: d/dx Σ exp(x) computed on sim:0 lands on the CPU" {
              let x = (f64 [ 0.5; -1.0 ]).RequireGrad()
              let y = x.To(sim0).Exp().Sum()
              Expect.equal y.Device sim0 "computed there"
              y.Backward()
              Expect.equal x.Grad.Device Device.Cpu "gradient where x is"
              Expect.equal (x.Grad.ToArray<float>()) [| exp 0.5; exp -1.0 |] "exp x"
          }
          test "a model trained on a simulated device, moved before or between steps, matches the CPU" {
              let onCpu = train Device.Cpu 99
              let there = train sim0 0
              let movedLater = train sim1 2

              for i in 0 .. onCpu.Length - 1 do
                  Expect.floatClose Accuracy.veryHigh there.[i] onCpu.[i] (sprintf "parameter %d, trained there" i)

                  Expect.floatClose
                      Accuracy.veryHigh
                      movedLater.[i]
                      onCpu.[i]
                      (sprintf "parameter %d, moved after two steps" i)
          }
          test "a checkpoint loads into a model that lives on a simulated device" {
              let net = Linear(2, 2, generator = Generator 1UL)

              let path =
                  IO.Path.Combine(IO.Path.GetTempPath(), sprintf "cotangent-sim-%d.safetensors" (Random().Next()))

              try
                  Io.Checkpoint.Save(path, net.To sim0)
                  let other = Linear(2, 2, generator = Generator 2UL).To sim0
                  Io.Checkpoint.Load(path, other)

                  for p, q in Seq.zip (net.Parameters()) (other.Parameters()) do
                      Expect.equal q.Value.Device sim0 "stays there"
                      Expect.equal (q.Value.ToArray<float32>()) (p.Value.ToArray<float32>()) "the saved values"
              finally
                  IO.File.Delete path
          }
          test "a data loader over data on a simulated device cuts its batches there" {
              let x = Tensor.Arange(12, DType.Float64).Reshape(6, 2).To sim0
              let y = Tensor.FromArray([| 0L; 1L; 0L; 1L; 0L; 1L |], [| 6 |], sim0)

              for xb, yb in DataLoader(x, y, 4, shuffle = true, generator = Generator 4UL) do
                  Expect.equal xb.Device sim0 "inputs"
                  Expect.equal yb.Device sim0 "targets"
          }
          test "bad labels and indices on a simulated device are named as on the CPU" {
              let scores = Tensor.Zeros([| 2; 3 |], device = sim0)

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> Tensor.CrossEntropy(scores, Tensor.FromArray([| 0L; 3L |], [| 2 |], sim0)))
                  [ "cross_entropy:"; "label 3"; "3 classes" ]

              throwsWith<IndexOutOfRangeException, _>
                  (fun () -> scores.IndexSelect(1, Tensor.FromArray([| 5L |], [| 1 |], sim0)))
                  [ "index_select:"; "index 5" ]
          }
          test "a scope gives back a step's buffers on a simulated device; kept ones stay readable" {
              let kept, dropped =
                  using (Tensor.Scope()) (fun _ ->
                      let a = Tensor.Ones([| 1024 |], device = sim0)
                      (a * 2.0).Keep(), a + 1.0)

              Expect.equal (kept.ToArray<float32>() |> Array.distinct) [| 2f |] "kept"
              throwsWith<ObjectDisposedException, _> (fun () -> dropped.ToArray<float32>()) [ "recycled" ]
          } ]

let private mib = 1L <<< 20

/// Training steps of a small MLP on the device, each in a scope.
let private scopedSteps (device: Device) (steps: int) (after: int -> unit) =
    let net =
        Sequential(Linear(4, 8, generator = Generator 3UL), ReLU(), Linear(8, 2, generator = Generator 4UL)).To device

    let opt = Sgd(net.Parameters(), 0.05, momentum = 0.9)
    let x = Tensor.Randn([| 8; 4 |], DType.Float32, Generator 5UL, device)
    let y = Tensor.FromArray([| 0L; 1L; 1L; 0L; 1L; 0L; 0L; 1L |], [| 8 |], device)

    for step in 1..steps do
        using (Tensor.Scope()) (fun _ ->
            opt.ZeroGrad()
            Tensor.CrossEntropy(net.Forward x, y).Backward()
            opt.Step())

        after step

    // the callback reads counters that count these: they must not be collected before it runs
    GC.KeepAlive net
    GC.KeepAlive opt
    GC.KeepAlive(x, y)

// each test has a simulated device of its own: counters are per device, and tests run in parallel
// in sequence: several of these set a limit on one device and count its bytes
let memory =
    testSequenced
    <| testList
        "device memory"
        [ test "counters follow tensors, round to 512 bytes, and a scope brings them back" {
              let d = Device.Simulated 7
              let before, reserved0 = d.MemoryAllocated, d.MemoryReserved

              using (Tensor.Scope()) (fun _ ->
                  let t = Tensor.Zeros([| 1000 |], device = d)
                  Expect.equal (d.MemoryAllocated - before) 4096L "4000 bytes take 4096"
                  Expect.isGreaterThanOrEqual d.MemoryReserved d.MemoryAllocated "reserved segments hold every block"
                  Expect.isGreaterThanOrEqual d.MaxMemoryAllocated (before + 4096L) "the peak saw it"
                  t |> ignore)

              Expect.equal d.MemoryAllocated before "given back at the scope's end"
          }
          test "freed memory is reused, and emptying the cache returns it to the driver" {
              let d = Device.Simulated 6
              d.EmptyCache()
              let reserved0 = d.MemoryReserved

              for _ in 1..5 do
                  using (Tensor.Scope()) (fun _ -> Tensor.Zeros([| 3 * 262144 |], device = d) |> ignore)

              Expect.equal (d.MemoryReserved - reserved0) (20L * mib) "one 20 MiB segment for a 3 MiB request, reused"
              d.EmptyCache()
              Expect.equal d.MemoryReserved reserved0 "all given back"
          }
          test "past the limit, the cache is emptied and the request retried" {
              let d = Device.Simulated 5
              d.EmptyCache()
              d.SetMemoryLimit(Nullable(8L * mib))

              try
                  // a scope leaves a wholly free 4 MiB segment cached
                  using (Tensor.Scope()) (fun _ -> Tensor.Zeros([| 1024 * 1024 |], device = d) |> ignore)
                  Expect.equal d.MemoryReserved (4L * mib) "cached"
                  // 4 + 6 > 8: only after the cached segment goes back does a 6 MiB one fit
                  let six = Tensor.Zeros([| 1536 * 1024 |], device = d)
                  Expect.equal d.MemoryReserved (6L * mib) "the cached segment was returned, the new one made"
                  Expect.equal (six.Sum().Item<float32>()) 0f "and it works"
              finally
                  d.SetMemoryLimit(Nullable())
          }
          test "memory held only by unreachable tensors is collected before giving up" {
              let d = Device.Simulated 5
              d.EmptyCache()
              d.SetMemoryLimit(Nullable(8L * mib))

              try
                  // made outside any scope and dropped: its block goes back only when the GC finalizes it
                  dropOne d (1536 * 1024)
                  let again = Tensor.Zeros([| 1536 * 1024 |], device = d)
                  Expect.equal again.Shape [| 1536 * 1024 |] "the second fits once the first is collected"
              finally
                  d.SetMemoryLimit(Nullable())
          }
          test "then a clear error naming the request and what is held; smaller requests still work" {
              let d = Device.Simulated 5
              d.EmptyCache()
              d.SetMemoryLimit(Nullable(8L * mib))

              try
                  let kept = Tensor.Zeros([| 1536 * 1024 |], device = d)

                  let e =
                      Expect.throwsC (fun () -> Tensor.Zeros([| 1024 * 1024 |], device = d) |> ignore) id

                  match e with
                  | :? OutOfDeviceMemoryException as oom ->
                      Expect.stringContains oom.Message "zeros: out of memory on sim:5" "names the op and device"
                      Expect.stringContains oom.Message "tried to allocate 4.00 MiB" "the request"
                      Expect.equal oom.Requested (4L * mib) "requested"
                      Expect.equal oom.Allocated (6L * mib) "allocated"
                      Expect.equal oom.Reserved (6L * mib) "reserved"
                      Expect.equal oom.Free (Nullable(2L * mib)) "free under the limit"
                  | other -> failtestf "expected OutOfDeviceMemoryException, got %O" other

                  let small = Tensor.Ones([| 1000 |], device = d)
                  Expect.equal (small.Sum().Item<float32>()) 1000f "the device still works"
                  Expect.equal (kept.Sum().Item<float32>()) 0f "and what it held is intact"
              finally
                  d.SetMemoryLimit(Nullable())
          }
          test "1,000 scoped training steps leave allocated and reserved memory flat" {
              let d = Device.Simulated 4
              let mutable at10 = (0L, 0L)
              let mutable atEnd = (-1L, -1L)
              let mutable peak = 0L

              // what is live: a buffer no scope owns (the first momentum buffer, which is the
              // first gradient and so kept) goes back when the GC finalizes its tensor
              let live () =
                  GC.Collect()
                  GC.WaitForPendingFinalizers()
                  GC.Collect()
                  d.MemoryAllocated, d.MemoryReserved

              scopedSteps d 1000 (fun step ->
                  if step = 10 then
                      at10 <- live ()
                      d.ResetPeakMemory()

                  if step > 10 then
                      peak <- max peak d.MaxMemoryAllocated

                  // read while the model and the optimizer are still alive
                  if step = 1000 then
                      atEnd <- live ())

              Expect.equal atEnd at10 "the same at step 1,000 as at step 10"
              Expect.isLessThan peak (fst at10 + mib) "no step's intermediates pile up"
          }
          test "the CPU keeps no device counters and says so" {
              throwsWith<InvalidOperationException, _>
                  (fun () -> Device.Cpu.MemoryAllocated)
                  [ "memory_allocated:"; "cpu" ]

              throwsWith<OpArgumentException, _>
                  (fun () -> (Device.Simulated 3).SetMemoryLimit(Nullable -1L))
                  [ "set_memory_limit:" ]
          } ]

let tests =
    testList "devices" [ parsing; cuda; defaults; unavailable; simulated; memory ]
