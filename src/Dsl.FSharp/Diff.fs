namespace Cotangent.FSharp

open System
open System.Collections.Generic
open Cotangent

/// The cotangents a program's pullback returns, keyed (by reference) by the tensors that
/// entered it: the inputs its steps closed over, and any intermediate value it bound.
[<Sealed>]
type Grads internal (table: Dictionary<Tensor, Tensor>) =

    /// The gradient for x; zeros of x's shape when the program does not depend on x.
    /// Example: `let g = pullback v in g.[w1]`.
    member _.Item(x: Tensor) : Tensor =
        match table.TryGetValue x with
        | true, g -> g
        | _ -> Tensor.ZerosLike x

    /// The gradient for x, if the program depends on x. Example: `g.TryFind w |> Option.isSome`.
    member _.TryFind(x: Tensor) : Tensor option =
        match table.TryGetValue x with
        | true, g -> Some g
        | _ -> None

    /// How many tensors received a cotangent.
    member _.Count = table.Count

    override _.ToString() =
        sprintf
            "Grads(%d tensors: %s)"
            table.Count
            (table.Values |> Seq.map (fun g -> sprintf "%A" g.Shape) |> String.concat ", ")

/// One executed step: what went in, what came out (as the program saw it), and its pullback.
type internal Step =
    { Inputs: Tensor[]
      Output: Tensor
      Pullback: Tensor -> Tensor option[] }

/// The steps of one run in execution order; the pullback walks it backwards.
[<Sealed>]
type Tape internal () =
    member val internal Steps = ResizeArray<Step>()

/// A differentiable program that produces a 'T. Each step it runs carries its value and its
/// pullback; `Diff.run` returns the value and the composed pullback v ↦ J₁ᵀ(J₂ᵀ(… v)).
type Diff<'T> = internal Diff of (Tape -> 'T)

/// The `diff { }` builder: `let!` runs a step and binds its value, `and!` runs independent
/// steps, `for`/`while` repeat steps, `return!` ends with a step. Plain tensor code between
/// steps is allowed: on step outputs (and `Diff.input` values, and leaves that require grad)
/// it is differentiated by the engine and joins the chain.
type DiffBuilder() =
    member _.Return(x: 'T) : Diff<'T> = Diff(fun _ -> x)
    member _.ReturnFrom(d: Diff<'T>) : Diff<'T> = d

    member _.Bind(Diff m: Diff<'A>, k: 'A -> Diff<'B>) : Diff<'B> =
        Diff(fun tape ->
            let (Diff n) = k (m tape)
            n tape)

    member _.BindReturn(Diff m: Diff<'A>, f: 'A -> 'B) : Diff<'B> = Diff(fun tape -> f (m tape))

    member _.MergeSources(Diff a: Diff<'A>, Diff b: Diff<'B>) : Diff<'A * 'B> =
        Diff(fun tape ->
            let x = a tape
            x, b tape)

    member _.Zero() : Diff<unit> = Diff(fun _ -> ())

    member _.Delay(f: unit -> Diff<'T>) : Diff<'T> =
        Diff(fun tape ->
            let (Diff m) = f ()
            m tape)

    member _.Combine(Diff a: Diff<unit>, Diff b: Diff<'T>) : Diff<'T> =
        Diff(fun tape ->
            a tape
            b tape)

    member _.While(guard: unit -> bool, Diff body: Diff<unit>) : Diff<unit> =
        Diff(fun tape ->
            while guard () do
                body tape)

    member _.For(xs: seq<'A>, body: 'A -> Diff<unit>) : Diff<unit> =
        Diff(fun tape ->
            for x in xs do
                let (Diff b) = body x
                b tape)

/// The `diff { }` computation expression.
[<AutoOpen>]
module DiffBuilderInstance =
    /// Composes differentiable steps. Example: `diff { let! h = Diff.linear w b x in return! Diff.relu h }`.
    let diff = DiffBuilder()

/// Steps and runners for `diff { }` programs.
[<RequireQualifiedAccess>]
module Diff =

    let private record (tape: Tape) inputs (y: Tensor) pullback =
        // the program sees a fresh leaf, so plain tensor code on it is recorded by the engine
        let out = if y.DType.IsFloating() then y.Detach().RequireGrad() else y

        tape.Steps.Add
            { Inputs = inputs
              Output = out
              Pullback = pullback }

        out

    /// A step from any function of tensors, differentiated by the engine.
    /// Example: `Diff.lift (fun xs -> xs.[0] * xs.[1]) [ a; b ]`.
    let lift (f: Tensor list -> Tensor) (inputs: Tensor list) : Diff<Tensor> =
        Diff(fun tape ->
            let xs = Array.ofList inputs

            let struct (y, pb) =
                Autograd.Vjp(Func<Tensor[], Tensor>(List.ofArray >> f), xs |> Array.map (fun t -> t.Detach()))

            record tape xs y (fun v -> pb.Invoke v |> Array.map Some))

    /// A one-input step. Example: `Diff.lift1 (fun x -> x.Tanh()) h`.
    let lift1 (f: Tensor -> Tensor) (x: Tensor) = lift (fun xs -> f xs.Head) [ x ]

    /// A two-input step. Example: `Diff.lift2 (fun a b -> a * b) a b`.
    let lift2 (f: Tensor -> Tensor -> Tensor) (a: Tensor) (b: Tensor) =
        lift (fun xs -> f xs.[0] xs.[1]) [ a; b ]

    /// A step with a hand-written VJP (jax.custom_vjp): `vjp inputs output v` returns one
    /// cotangent per input. Its forward runs without recording.
    /// Example: `Diff.custom (fun xs -> xs.Head * xs.Head) (fun xs _ v -> [ 2.0 * xs.Head * v ]) [ x ]`.
    let custom
        (forward: Tensor list -> Tensor)
        (vjp: Tensor list -> Tensor -> Tensor -> Tensor list)
        (inputs: Tensor list)
        : Diff<Tensor> =
        Diff(fun tape ->
            let xs = Array.ofList inputs
            let detached = inputs |> List.map (fun t -> t.Detach())
            let y = noGrad (fun () -> forward detached)

            record tape xs y (fun v ->
                let gs = noGrad (fun () -> vjp detached y v)

                if gs.Length <> xs.Length then
                    invalidOp (
                        sprintf "Diff.custom: the VJP returned %d cotangents for %d inputs" gs.Length xs.Length
                    )

                gs |> List.map Some |> Array.ofList))

    /// Brings x into the program as a step (the identity): plain tensor code on the result is
    /// differentiated and its cotangent reaches x. A tensor that enters only plain code, and is
    /// neither a step's output nor a leaf that requires grad, is a constant to the program.
    /// Example: `let! x = Diff.input x0`.
    let input (x: Tensor) = lift1 id x

    /// A program that returns x without running a step. Example: `Diff.ret x`.
    let ret (x: 'T) : Diff<'T> = Diff(fun _ -> x)

    /// Threads a state through one program per item. Example: `Diff.fold (fun h w -> Diff.linear w b h) x weights`.
    let fold (step: 'S -> 'A -> Diff<'S>) (init: 'S) (items: seq<'A>) : Diff<'S> =
        Diff(fun tape ->
            items
            |> Seq.fold
                (fun s a ->
                    let (Diff m) = step s a
                    m tape)
                init)

    // ---- a small step library -------------------------------------------------------------

    /// x·wᵀ + b, a dense layer (w: [out, in], b: [out], x: [.., in]). Example: `Diff.linear w b x`.
    let linear (w: Tensor) (b: Tensor) (x: Tensor) =
        lift (fun xs -> Tensor.MatMul(xs.[2], xs.[0].T) + xs.[1]) [ w; b; x ]

    /// max(x, 0). Example: `Diff.relu h`.
    let relu (x: Tensor) = lift1 (fun x -> x.Relu()) x
    /// tanh x. Example: `Diff.tanh h`.
    let tanh (x: Tensor) = lift1 (fun x -> x.Tanh()) x
    /// σ(x). Example: `Diff.sigmoid h`.
    let sigmoid (x: Tensor) = lift1 (fun x -> x.Sigmoid()) x
    /// softmax over the last axis. Example: `Diff.softmax logits`.
    let softmax (x: Tensor) = lift1 (fun x -> x.Softmax(-1)) x

    /// Mean squared error against a target. Example: `Diff.mse target prediction`.
    let mse (target: Tensor) (prediction: Tensor) =
        lift1 (fun p -> Tensor.MseLoss(p, target)) prediction

    /// Mean cross-entropy against int64 labels. Example: `Diff.crossEntropy labels logits`.
    let crossEntropy (labels: Tensor) (logits: Tensor) =
        lift1 (fun z -> Tensor.CrossEntropy(z, labels)) logits

    // ---- running --------------------------------------------------------------------------

    let private add (grads: Dictionary<Tensor, Tensor>) (x: Tensor) (g: Tensor) =
        grads.[x] <-
            match grads.TryGetValue x with
            | true, p -> p + g
            | _ -> g

    /// Keys computed from other tensors by plain (recorded) tensor code.
    let private derived (grads: Dictionary<Tensor, Tensor>) =
        grads |> Seq.filter (fun kv -> not (isNull kv.Key.GradFn)) |> Seq.toArray

    /// The cotangent reaching a step's output: directly, and through plain code the engine recorded.
    let private cotangentOf (grads: Dictionary<Tensor, Tensor>) (o: Tensor) =
        let direct =
            match grads.TryGetValue o with
            | true, g -> Some g
            | _ -> None

        let through = derived grads

        if through.Length = 0 || not o.RequiresGrad then
            direct
        else
            let g =
                Autograd.Grad(
                    through |> Array.map (fun kv -> kv.Key),
                    [| o |],
                    through |> Array.map (fun kv -> kv.Value),
                    retainGraph = true,
                    allowUnused = true
                ).[0]

            Some(
                match direct with
                | Some d -> d + g
                | None -> g
            )

    /// Runs a program: its value, and its pullback v ↦ J₁ᵀ(J₂ᵀ(… v)) giving the cotangent of
    /// every tensor that entered it. Example: `let y, pullback = Diff.run net in (pullback v).[w1]`.
    let run (Diff m: Diff<Tensor>) : Tensor * (Tensor -> Grads) =
        let tape = Tape()

        let y =
            use _ = Autograd.EnableGrad()
            m tape

        let steps = tape.Steps.ToArray()

        let outputs =
            HashSet<Tensor>(steps |> Seq.map (fun s -> s.Output), HashIdentity.Reference)

        let pullback (v: Tensor) =
            use _ = Autograd.NoGrad()
            let grads = Dictionary<Tensor, Tensor>(HashIdentity.Reference)
            add grads y (v.To y.DType)

            for i in steps.Length - 1 .. -1 .. 0 do
                let step = steps.[i]

                match cotangentOf grads step.Output with
                | Some ct ->
                    step.Pullback ct
                    |> Array.iteri (fun j g -> g |> Option.iter (add grads step.Inputs.[j]))
                | None -> ()

            // plain code on closed-over leaves that require grad: resolve onto those leaves
            let through = derived grads

            if through.Length > 0 then
                let keys = through |> Array.map (fun kv -> kv.Key)

                let leaves =
                    Autograd.Leaves keys |> Array.filter (fun l -> not (outputs.Contains l))

                if leaves.Length > 0 then
                    let gs =
                        Autograd.Grad(
                            keys,
                            leaves,
                            through |> Array.map (fun kv -> kv.Value),
                            retainGraph = true,
                            allowUnused = true
                        )

                    Array.iter2 (add grads) leaves gs

            Grads grads

        y.Detach(), pullback

    /// Runs a program for its value alone. Example: `Diff.value net`.
    let value (Diff m: Diff<'T>) : 'T =
        use _ = Autograd.NoGrad()
        m (Tape())
