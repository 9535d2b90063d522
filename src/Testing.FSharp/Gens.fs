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
/// while staying inside the domain.
[<RequireQualifiedAccess>]
module Arbs =

    /// Values rounded to one decimal: in-domain for Real, Positive and AwayFromZero.
    let private rounded (domain: Sampling.Domain) (x: Tensor) =
        match domain with
        | Sampling.Distinct -> Seq.empty
        | _ ->
            let v = x.ToArray<float>()
            let r = v |> Array.map (fun a -> Math.Round(a, 1, MidpointRounding.AwayFromZero))

            if r = v then
                Seq.empty
            else
                Seq.singleton (Tensor.FromArray(r, x.Shape))

    /// The same tensor with one axis one shorter (a prefix slice, so values stay in the domain).
    let private shorter (x: Tensor) =
        x.Shape
        |> Seq.indexed
        |> Seq.filter (fun (_, d) -> d > 1)
        |> Seq.map (fun (a, d) -> x.Slice(a, 0, d - 1).Contiguous())

    /// One tensor of a generated shape; shrinks its shape and rounds its values. Example: `Arbs.tensor Real (Gens.shape 1 3)`.
    let tensor (domain: Sampling.Domain) (shapes: Gen<int[]>) : Arbitrary<Tensor> =
        let g =
            gen {
                let! s = shapes
                return! Gens.tensorIn domain s
            }

        Arb.fromGenShrink (g, fun x -> Seq.append (shorter x) (rounded domain x))

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
                rounded domain x
                |> Seq.map (fun r -> xs |> List.mapi (fun j y -> if i = j then r else y)))

        Arb.fromGenShrink (g, shrink)

/// gradcheck as FsCheck properties: apply them to your own functions and custom VJP rules.
/// A failure shrinks to a small input and prints it with the expected and actual gradients.
[<RequireQualifiedAccess>]
module GradProps =

    let private withSeed (arb: Arbitrary<'a>) =
        Arb.zip (arb, Arb.fromGen (Gen.choose (0, Int32.MaxValue)))

    /// Jᵀv against finite differences along random directions.
    /// Example: `GradProps.vjpMatchesDifferences GradCheck.defaultTolerance (Arbs.tensors Real shapes) f`.
    let vjpMatchesDifferences tol (inputs: Arbitrary<Tensor list>) (f: Tensor list -> Tensor) : Property =
        Prop.forAll (withSeed inputs) (fun (xs, seed) -> GradCheck.vjpVsDifferences tol f xs seed)

    /// Jᵀv against the finite-difference Jacobian, element by element.
    let vjpMatchesJacobian tol (inputs: Arbitrary<Tensor list>) (f: Tensor list -> Tensor) : Property =
        Prop.forAll (withSeed inputs) (fun (xs, seed) -> GradCheck.vjpVsJacobian tol f xs seed)

    /// ⟨J u, w⟩ = ⟨u, Jᵀ w⟩ between jvp and vjp.
    let adjointIdentity tol (input: Arbitrary<Tensor>) (f: Tensor -> Tensor) : Property =
        Prop.forAll (withSeed input) (fun (x, seed) -> GradCheck.adjoint tol f x seed)
