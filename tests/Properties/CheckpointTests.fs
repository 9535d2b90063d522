/// Checkpoints: bit-exact round trips for every dtype, a format readable from its written
/// spec, atomic writes, and loads that refuse truncated, corrupted or hostile files whole.
module Cotangent.Tests.CheckpointTests

open System
open System.IO
open System.Text
open Expecto
open FsCheck
open FsCheck.FSharp
open Cotangent
open Cotangent.Io
open Cotangent.Nn
open Cotangent.Tests.Check

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 1000 }

/// One folder for the whole run, removed when the process exits (thousands of property cases
/// each want a folder of their own; left behind, they filled /tmp run after run).
let private tempRoot =
    lazy
        (let root =
            Path.Combine(Path.GetTempPath(), "cotangent-tests-" + Guid.NewGuid().ToString("N"))

         Directory.CreateDirectory root |> ignore

         AppDomain.CurrentDomain.ProcessExit.Add(fun _ ->
             try
                 Directory.Delete(root, true)
             with
             | :? IOException
             | :? UnauthorizedAccessException -> ())

         root)

let private tempDir () =
    let d = Path.Combine(tempRoot.Value, Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

/// The raw bits of a tensor, so NaN payloads and −0 compare exactly.
let private bits (t: Tensor) : obj =
    match t.DType with
    | DType.Float32 -> t.ToArray<float32>() |> Array.map BitConverter.SingleToInt32Bits |> box
    | DType.Float64 -> t.ToArray<float>() |> Array.map BitConverter.DoubleToInt64Bits |> box
    | DType.Int64 -> t.ToArray<int64>() |> box
    | _ -> t.ToArray<bool>() |> box

/// A random tensor of a random dtype, with the awkward values of each dtype mixed in.
let private randomTensor (r: Random) =
    let shape = Array.init (r.Next 4) (fun _ -> r.Next(0, 4))
    let n = Array.fold (*) 1 shape

    match r.Next 4 with
    | 0 ->
        let specials =
            [| nanf
               infinityf
               -infinityf
               -0.0f
               Single.Epsilon
               BitConverter.Int32BitsToSingle 0x7FC00123 |]

        Tensor.FromArray(
            Array.init n (fun _ ->
                if r.Next 4 = 0 then
                    specials.[r.Next specials.Length]
                else
                    float32 (r.NextDouble() * 10.0 - 5.0)),
            shape
        )
    | 1 ->
        let specials = [| nan; infinity; -0.0; Double.MaxValue; Double.Epsilon |]

        Tensor.FromArray(
            Array.init n (fun _ ->
                if r.Next 4 = 0 then
                    specials.[r.Next specials.Length]
                else
                    r.NextDouble() * 1e6 - 5e5),
            shape
        )
    | 2 ->
        Tensor.FromArray(
            Array.init n (fun _ -> [| Int64.MinValue; Int64.MaxValue; 0L; r.NextInt64() |].[r.Next 4]),
            shape
        )
    | _ -> Tensor.FromArray(Array.init n (fun _ -> r.Next 2 = 0), shape)

let private randomState (r: Random) =
    readOnlyDict [ for i in 0 .. r.Next(1, 5) -> sprintf "t%d.%s" i (String('x', r.Next 3)), randomTensor r ]

let private seeds = Arb.fromGen (Gen.choose (0, Int32.MaxValue))

let private sameState
    (expected: Collections.Generic.IReadOnlyDictionary<string, Tensor>)
    (actual: Collections.Generic.Dictionary<string, Tensor>)
    =
    Expect.equal (actual.Keys |> Seq.sort |> List.ofSeq) (expected.Keys |> Seq.sort |> List.ofSeq) "names"

    for KeyValue(k, t) in expected do
        let a = actual.[k]
        Expect.equal (a.DType, a.Shape) (t.DType, t.Shape) (k + ": dtype and shape")
        Expect.equal (bits a) (bits t) (k + ": bits")

let roundTrips =
    testList
        "round trips"
        [ testPropertyWithConfig
              config
              "random tensors of every dtype round-trip bit-exactly"
              (Prop.forAll seeds (fun seed ->
                  let dir = tempDir ()
                  let path = Path.Combine(dir, "state.safetensors")
                  let state = randomState (Random seed)
                  Safetensors.Save(path, state, readOnlyDict [ "note", "round trip" ])
                  let struct (loaded, meta) = Safetensors.Load path
                  sameState state loaded
                  Expect.equal meta.["note"] "round trip" "metadata"

                  Expect.equal
                      (Directory.GetFiles dir |> Array.map Path.GetFileName)
                      [| "state.safetensors" |]
                      "no temporary file left"

                  Directory.Delete(dir, true)))
          test "a file written by hand from the format's spec is read back" {
              // 8-byte little-endian header length, JSON header, then little-endian row-major bytes
              let header =
                  """{"b":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}}"""

              let h = Encoding.UTF8.GetBytes header

              let data =
                  Array.concat
                      [ BitConverter.GetBytes 1.5f
                        BitConverter.GetBytes -2.0f
                        BitConverter.GetBytes 7L
                        BitConverter.GetBytes -9L ]

              let path = Path.Combine(tempDir (), "spec.safetensors")
              File.WriteAllBytes(path, Array.concat [ BitConverter.GetBytes(uint64 h.Length); h; data ])
              let struct (t, meta) = Safetensors.Load path
              Expect.equal (t.["a"].ToArray<float32>()) [| 1.5f; -2.0f |] "F32"
              Expect.equal (t.["b"].ToArray<int64>()) [| 7L; -9L |] "I64"
              Expect.equal meta.["format"] "pt" "metadata"
          }
          test "what Save writes follows the spec: header length, 8-byte aligned JSON, then data" {
              let path = Path.Combine(tempDir (), "w.safetensors")
              Safetensors.Save(path, readOnlyDict [ "w", Tensor.From(1.0f, 2.0f) ])
              let bytes = File.ReadAllBytes path
              let n = BitConverter.ToUInt64(bytes, 0) |> int
              Expect.equal (n % 8) 0 "aligned"
              let json = Encoding.UTF8.GetString(bytes, 8, n)
              Expect.stringContains json "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}" "the entry"

              Expect.equal
                  bytes.[8 + n ..]
                  (Array.append (BitConverter.GetBytes 1.0f) (BitConverter.GetBytes 2.0f))
                  "little-endian data"
          }
          test "a model and its optimizer resume exactly where they stopped" {
              let make () =
                  Sequential(Linear(3, 4, generator = Generator 1UL), Tanh(), Linear(4, 2, generator = Generator 2UL))

              let x = Tensor.Randn([| 8; 3 |], DType.Float32, Generator 3UL)
              let y = Tensor.Randint(0L, 2L, [| 8 |], Generator 4UL)

              let train (net: Module) (opt: Optimizer) k =
                  for _ in 1..k do
                      opt.ZeroGrad()
                      Tensor.CrossEntropy(net.Forward x, y).Backward()
                      opt.Step()

              let a = make ()
              let optA = Adam(a.Parameters(), 0.01)
              train a optA 3
              let path = Path.Combine(tempDir (), "ckpt.safetensors")
              Checkpoint.Save(path, a, optA)

              let b =
                  Sequential(Linear(3, 4, generator = Generator 7UL), Tanh(), Linear(4, 2, generator = Generator 8UL))

              let optB = Adam(b.Parameters(), 0.01)
              Checkpoint.Load(path, b, optB)
              train a optA 2
              train b optB 2

              for struct (n, pa), struct (_, pb) in Seq.zip (a.NamedParameters()) (b.NamedParameters()) do
                  Expect.equal (bits pb.Value) (bits pa.Value) n
          } ]

/// Loads a file Cotangent wrote: the integrity hash is required.
let private tensorsOf path =
    let struct (t, _) = Safetensors.Load(path, requireHash = true)
    t

let private saved () =
    let path = Path.Combine(tempDir (), "model.safetensors")

    let net =
        Sequential(Linear(3, 4, generator = Generator 1UL), ReLU(), Linear(4, 2, generator = Generator 2UL))

    Checkpoint.Save(path, net, Sgd(net.Parameters(), 0.1, momentum = 0.9))
    path, File.ReadAllBytes path, net

let private loadsOrRefuses requireHash (bytes: byte[]) =
    let path = Path.Combine(tempDir (), "x.safetensors")
    File.WriteAllBytes(path, bytes)

    try
        Choice1Of2(let struct (t, _) = Safetensors.Load(path, requireHash) in t)
    with :? SafetensorsException as e ->
        Choice2Of2 e.Message

let hostile =
    testList
        "bad files"
        [ testPropertyWithConfig
              config
              "random byte corruptions are refused, or load the identical data"
              (Prop.forAll seeds (fun seed ->
                  let r = Random seed
                  let _, good, _ = saved ()

                  let original =
                      tensorsOf (
                          let p = Path.Combine(tempDir (), "o.safetensors") in
                          File.WriteAllBytes(p, good)
                          p
                      )

                  let bad = Array.copy good

                  for _ in 1 .. r.Next(1, 4) do
                      let i = r.Next bad.Length
                      bad.[i] <- bad.[i] ^^^ byte (r.Next(1, 256))

                  match loadsOrRefuses true bad with
                  | Choice2Of2 _ -> ()
                  | Choice1Of2 loaded -> sameState original loaded
                  // and a checkpoint load either refuses or restores the very same model
                  let path = Path.Combine(tempDir (), "c.safetensors")
                  File.WriteAllBytes(path, bad)

                  let net =
                      Sequential(
                          Linear(3, 4, generator = Generator 5UL),
                          ReLU(),
                          Linear(4, 2, generator = Generator 6UL)
                      )

                  let before =
                      net.StateDict() |> Seq.map (fun kv -> kv.Key, bits kv.Value) |> List.ofSeq

                  try
                      Checkpoint.Load(path, net)

                      Expect.equal
                          (net.StateDict()
                           |> Seq.map (fun kv -> "model." + kv.Key, bits kv.Value)
                           |> List.ofSeq
                           |> List.sortBy fst)
                          (original
                           |> Seq.filter (fun kv -> kv.Key.StartsWith "model.")
                           |> Seq.map (fun kv -> kv.Key, bits kv.Value)
                           |> List.ofSeq
                           |> List.sortBy fst)
                          "restored exactly"
                  with
                  | :? SafetensorsException
                  | :? ArgumentException ->
                      Expect.equal
                          (net.StateDict() |> Seq.map (fun kv -> kv.Key, bits kv.Value) |> List.ofSeq)
                          before
                          "refused: unchanged"))
          testPropertyWithConfig
              config
              "every truncation is refused with a clear message"
              (Prop.forAll seeds (fun seed ->
                  let _, good, _ = saved ()
                  let cut = Random(seed).Next good.Length

                  match loadsOrRefuses true good.[.. cut - 1] with
                  | Choice2Of2 msg -> Expect.isNotEmpty msg "message"
                  | Choice1Of2 _ -> failtestf "a file cut to %d of %d bytes loaded" cut good.Length))
          test "a forged header length is refused before anything is allocated" {
              let _, good, _ = saved ()

              for forged in [ UInt64.MaxValue; uint64 Int64.MaxValue; uint64 good.Length ] do
                  let bad = Array.append (BitConverter.GetBytes forged) good.[8..]

                  match loadsOrRefuses true bad with
                  | Choice2Of2 msg -> Expect.stringContains msg "header length" "names the header length"
                  | Choice1Of2 _ -> failtest "loaded"
          }
          test "hostile headers: huge shapes, offsets past the end, unknown dtypes, duplicates, deep nesting" {
              let file (header: string) (data: byte[]) =
                  let h = Encoding.UTF8.GetBytes header
                  Array.concat [ BitConverter.GetBytes(uint64 h.Length); h; data ]

              let cases =
                  [ """{"a":{"dtype":"F32","shape":[2147483647,2147483647],"data_offsets":[0,8]}}""", "elements"
                    """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800000000]}}""", "spans"
                    """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", "cover"
                    """{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}""", "F16"
                    """{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "shape entry"
                    """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""",
                    "twice"
                    (String.replicate 100 "[" + String.replicate 100 "]"), "JSON"
                    """{"a":{"dtype":"BOOL","shape":[8],"data_offsets":[0,8]}}""", "bool"
                    // a lone surrogate escape: valid JSON text that no string can hold
                    """{"\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "JSON" ]

              for header, part in cases do
                  match loadsOrRefuses false (file header (Array.create 8 7uy)) with
                  | Choice2Of2 msg -> Expect.stringContains msg part header
                  | Choice1Of2 _ -> failtestf "loaded %s" header
          }
          test "a checkpoint for another architecture is refused and the model is unchanged" {
              let path, _, _ = saved ()

              let other =
                  Sequential(Linear(3, 5, generator = Generator 3UL), ReLU(), Linear(5, 2, generator = Generator 4UL))

              let before =
                  other.StateDict() |> Seq.map (fun kv -> kv.Key, bits kv.Value) |> List.ofSeq

              throwsWith<ShapeMismatchException, _>
                  (fun () -> Checkpoint.Load(path, other))
                  [ "0.weight"; "[4, 3]"; "[5, 3]" ]

              Expect.equal
                  (other.StateDict() |> Seq.map (fun kv -> kv.Key, bits kv.Value) |> List.ofSeq)
                  before
                  "untouched"
          }
          test "a checkpoint for a deeper or shallower model names every entry with both shapes" {
              let path, _, _ = saved ()
              // saved: Linear(3, 4), ReLU, Linear(4, 2); this one lacks the last layer and has another
              let other = Sequential(Linear(3, 4), ReLU(), Linear(4, 4), ReLU(), Linear(4, 2))

              throwsWith<StateDictMismatchException, _>
                  (fun () -> Checkpoint.Load(path, other))
                  [ path
                    "missing from the state: 4.weight [2, 4] float32, 4.bias [2] float32"
                    "2.weight is [2, 4] float32 in the state but [4, 4] float32 in the module"
                    "2.bias is [2] float32 in the state but [4] float32 in the module" ]

              let shallower = Sequential(Linear(3, 4))

              throwsWith<StateDictMismatchException, _>
                  (fun () -> Checkpoint.Load(path, shallower))
                  [ "unexpected in the state: 2.bias [2] float32, 2.weight [2, 4] float32" ]
          }
          test "optimizer state that does not fit is refused with what and why" {
              let path, _, net = saved ()
              let sgd = Sgd(net.Parameters(), 0.1, momentum = 0.9)
              Checkpoint.Load(path, net, sgd)
              let state = sgd.StateDict()

              let bad =
                  readOnlyDict [ for kv in state -> kv.Key, (if kv.Key = "step" then Tensor.From(-3L) else kv.Value) ]

              throwsWith<StateDictMismatchException, _> (fun () -> sgd.LoadStateDict bad) [ "'step' is -3" ]

              let extra =
                  readOnlyDict
                      [ yield! [ for kv in state -> kv.Key, kv.Value ]
                        "9.momentum_buffer", Tensor.Zeros 2 ]

              throwsWith<StateDictMismatchException, _>
                  (fun () -> sgd.LoadStateDict extra)
                  [ "unexpected in the state: 9.momentum_buffer [2] float32" ]
          }
          test "a missing file, a missing folder and a folder in place of a file name the path" {
              let dir = tempDir ()
              let missing = Path.Combine(dir, "nope.safetensors")

              throwsWith<SafetensorsException, _>
                  (fun () -> Checkpoint.Load(missing, Linear(2, 1)))
                  [ missing; "no such file" ]

              let noFolder = Path.Combine(dir, "no", "such", "folder", "m.safetensors")

              throwsWith<SafetensorsException, _>
                  (fun () -> Checkpoint.Save(noFolder, Linear(2, 1)))
                  [ noFolder; "does not exist" ]

              throwsWith<SafetensorsException, _> (fun () -> Safetensors.Load dir |> ignore) [ dir; "cannot read" ]
              Expect.isEmpty (Directory.GetFiles dir) "no temporary file is left behind"
          }
          test "validating a hostile header allocates a small multiple of its size, loaded or refused" {
              let dir = tempDir ()

              let write (header: string) (data: byte[]) =
                  let path = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".safetensors")
                  let h = Encoding.UTF8.GetBytes header
                  File.WriteAllBytes(path, Array.concat [ BitConverter.GetBytes(uint64 h.Length); h; data ])
                  path, h.Length

              let allocatedBy f =
                  GC.Collect()
                  let before = GC.GetAllocatedBytesForCurrentThread()
                  f ()
                  GC.GetAllocatedBytesForCurrentThread() - before

              let bound what factor (path, headerBytes) loads =
                  let used =
                      allocatedBy (fun () ->
                          try
                              Safetensors.Load path |> ignore

                              if not loads then
                                  failtestf "%s: loaded" what
                          with :? SafetensorsException when not loads ->
                              ())

                  if used > int64 factor * int64 headerBytes then
                      failtestf
                          "%s: %d bytes allocated for a %d-byte header (%.1f×)"
                          what
                          used
                          headerBytes
                          (float used / float headerBytes)

              // the first load compiles the reader: its allocations are not the header's
              bound
                  "warm-up"
                  1000
                  (write """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""" (Array.zeroCreate 4))
                  true
              // validation: the header itself, its parse and one UTF-16 copy of each name, at most 6×
              let key = String('k', 8_000_000)

              bound
                  "an 8 MB key"
                  6
                  (write
                      (sprintf "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}" key)
                      (Array.zeroCreate 4))
                  true

              bound
                  "an 8 MB key with a bad dtype"
                  6
                  (write
                      (sprintf "{\"%s\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}" key)
                      (Array.zeroCreate 2))
                  false

              bound
                  "an 8 MB dtype"
                  6
                  (write
                      (sprintf "{\"a\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,4]}}" key)
                      (Array.zeroCreate 4))
                  false

              let many =
                  [ for i in 0..49_999 -> sprintf "\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}" i ]
                  |> String.concat ","

              bound
                  "50,000 zero-size entries, the last one bad"
                  6
                  (write ("{" + many + ""","z":{"dtype":"F32","shape":[1],"data_offsets":[0,0]}}""") [||])
                  false
              // loaded, each entry also becomes a tensor with its own small objects
              bound "50,000 zero-size entries" 12 (write ("{" + many + "}") [||]) true
          }
          test "duplicate keys inside __metadata__ are refused" {
              let path = Path.Combine(tempDir (), "dup.safetensors")
              let h = Encoding.UTF8.GetBytes """{"__metadata__":{"format":"a","format":"b"}}"""
              File.WriteAllBytes(path, Array.concat [ BitConverter.GetBytes(uint64 h.Length); h ])

              throwsWith<SafetensorsException, _>
                  (fun () -> Safetensors.Load path |> ignore)
                  [ "'format' appears twice in __metadata__" ]
          }
          test "a safetensors file that is not a checkpoint is refused" {
              let path = Path.Combine(tempDir (), "plain.safetensors")
              Safetensors.Save(path, readOnlyDict [ "w", Tensor.Zeros 2 ])

              throwsWith<SafetensorsException, _>
                  (fun () -> Checkpoint.Load(path, Linear(2, 1)))
                  [ "not a Cotangent checkpoint" ]
          }
          test "a failed save leaves the previous file intact" {
              let path, good, _ = saved ()

              Expect.throwsT<ArgumentException>
                  (fun () -> Safetensors.Save(path, readOnlyDict [ "__metadata__", Tensor.Zeros 1 ]))
                  "refused name"

              Expect.equal (File.ReadAllBytes path) good "unchanged"
          } ]

let tests = testList "checkpoints" [ roundTrips; hostile ]
