/// FsCheck generators and arbitraries for tensors, and gradient properties built on them,
/// for checking your own differentiable functions and custom VJP rules.
namespace Cotangent.Testing

open System
open Cotangent
open FsCheck
open FsCheck.FSharp

/// Generators of shapes and tensors.
[<RequireQualifiedAccess>]
module Gens =

    /// A shape of rank lo..hi with sizes 1..4. Example: `Gens.shape 1 3`.
    let shape lo hi : Gen<int[]> =
        gen {
            let! rank = Gen.choose (lo, hi)
            return! Gen.arrayOfLength rank (Gen.choose (1, 4))
        }

    /// Two shapes that broadcast together. Example: `Gens.broadcastPair`.
    let broadcastPair: Gen<int[] * int[]> =
        Gen.choose (0, Int32.MaxValue)
        |> Gen.map (fun s -> Sampling.broadcastPair (Random s))

    /// A float64 tensor of the shape with values in the domain. Example: `Gens.tensorIn Positive [| 3 |]`.
    let tensorIn (domain: Sampling.Domain) (shape: int[]) : Gen<Tensor> =
        Gen.choose (0, Int32.MaxValue)
        |> Gen.map (fun s -> Sampling.tensorIn (Random s) domain shape)

    /// Tensors for each of the shapes, all in the domain. Example: `Gens.tensorsIn Real [ [| 2; 3 |]; [| 3 |] ]`.
    let tensorsIn (domain: Sampling.Domain) (shapes: int[] list) : Gen<Tensor list> =
        Gen.choose (0, Int32.MaxValue)
        |> Gen.map (fun s ->
            let r = Random s
            shapes |> List.map (Sampling.tensorIn r domain))

/// Arbitraries (generator plus shrinker) that shrink towards small, round counterexamples
/// while staying inside the domain: fewer elements (for one tensor), then every value set to
/// the domain's simplest one (0, 1 or ±1), then one value at a time, then values rounded to
/// one decimal.
[<RequireQualifiedAccess>]
module Arbs =

    /// The simplest value of a domain for an element currently at v, or None (Distinct keeps its spacing).
    let private simplest (domain: Sampling.Domain) (v: float) =
        match domain with
        | Sampling.Real
        | Sampling.Unit -> Some 0.0
        | Sampling.Positive -> Some 1.0
        | Sampling.AwayFromZero -> Some(if v < 0.0 then -1.0 else 1.0)
        | Sampling.Distinct -> None

    /// Simpler tensors of the same shape, all inside the domain, simplest first.
    let private simpler (domain: Sampling.Domain) (x: Tensor) =
        let v = x.ToArray<float>()

        let make (w: float[]) =
            Tensor.FromArray(w, x.Shape, x.Device).To(x.DType)

        seq {
            match domain with
            | Sampling.Distinct -> ()
            | _ ->
                let all = v |> Array.map (fun a -> (simplest domain a).Value)

                if all <> v then
                    yield make all

                    for i in 0 .. v.Length - 1 do
                        let s = (simplest domain v.[i]).Value

                        if s <> v.[i] then
                            yield make (Array.mapi (fun j a -> if i = j then s else a) v)

                let r = v |> Array.map (fun a -> Math.Round(a, 1, MidpointRounding.AwayFromZero))

                if r <> v && r <> all then
                    yield make r
        }

    /// The same tensor with one axis one shorter (a prefix slice, so values stay in the domain).
    let private shorter (x: Tensor) =
        x.Shape
        |> Seq.indexed
        |> Seq.filter (fun (_, d) -> d > 1)
        |> Seq.map (fun (a, d) -> x.Slice(a, 0, d - 1).Contiguous())

    /// One tensor of a generated shape; shrinks its shape and its values. Example: `Arbs.tensor Real (Gens.shape 1 3)`.
    let tensor (domain: Sampling.Domain) (shapes: Gen<int[]>) : Arbitrary<Tensor> =
        let g =
            gen {
                let! s = shapes
                return! Gens.tensorIn domain s
            }

        Arb.fromGenShrink (g, fun x -> Seq.append (shorter x) (simpler domain x))

    /// Several tensors whose shapes are generated together (so they stay compatible); shrinks
    /// values only. Example: `Arbs.tensors Real (Gen.constant [ [| 2; 3 |]; [| 3; 4 |] ])`.
    let tensors (domain: Sampling.Domain) (shapes: Gen<int[] list>) : Arbitrary<Tensor list> =
        let g =
            gen {
                let! s = shapes
                return! Gens.tensorsIn domain s
            }

        let shrink (xs: Tensor list) =
            xs
            |> Seq.indexed
            |> Seq.collect (fun (i, x) ->
                simpler domain x
                |> Seq.map (fun r -> xs |> List.mapi (fun j y -> if i = j then r else y)))

        Arb.fromGenShrink (g, shrink)

    /// The arbitrary's values paired with a random seed (for the check's own random draws). The
    /// pair shrinks the value and keeps the seed, so the shrunk case replays the same draws.
    /// FsCheck's Arb.zip does not shrink here: a failure kept its first, large input.
    /// Example: `Prop.forAll (Arbs.withSeed (Arbs.tensor Real (Gens.shape 1 3))) (fun (x, seed) -> ...)`.
    let withSeed (arb: Arbitrary<'a>) : Arbitrary<'a * int> =
        Arb.fromGenShrink (
            Gen.zip arb.Generator (Gen.choose (0, Int32.MaxValue)),
            fun (a, seed) -> arb.Shrinker a |> Seq.map (fun a' -> a', seed)
        )

/// gradcheck as FsCheck properties: apply them to your own functions and custom VJP rules.
/// A failure shrinks to a small input and prints it with v and the expected and actual gradients.
[<RequireQualifiedAccess>]
module GradProps =

    /// Jᵀv against finite differences along random directions.
    /// Example: `GradProps.vjpMatchesDifferences GradCheck.defaultTolerance (Arbs.tensors Real shapes) f`.
    let vjpMatchesDifferences tol (inputs: Arbitrary<Tensor list>) (f: Tensor list -> Tensor) : Property =
        Prop.forAll (Arbs.withSeed inputs) (fun (xs, seed) -> GradCheck.vjpVsDifferences tol f xs seed)

    /// Jᵀv against the finite-difference Jacobian, element by element.
    let vjpMatchesJacobian tol (inputs: Arbitrary<Tensor list>) (f: Tensor list -> Tensor) : Property =
        Prop.forAll (Arbs.withSeed inputs) (fun (xs, seed) -> GradCheck.vjpVsJacobian tol f xs seed)

    /// ⟨J u, w⟩ = ⟨u, Jᵀ w⟩ with J u by finite differences, and jvp against the same J u.
    let adjointIdentity tol (input: Arbitrary<Tensor>) (f: Tensor -> Tensor) : Property =
        Prop.forAll (Arbs.withSeed input) (fun (x, seed) -> GradCheck.adjoint tol f x seed)
