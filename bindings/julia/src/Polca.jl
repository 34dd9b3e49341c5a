"""
    Polca

Julia wrappers (ccall) for libpolca: hidden breakthroughs in neural-network
training. The library is found through `ENV["POLCA_LIBRARY"]` (a path) or as
`libpolca.so.0` on the system loader's path.

Every failing call throws a `PolcaError` with the status code and the
library's message (`polca_last_error`). Handles are freed by finalizers or
`close`; a handle keeps the context it was made from alive, and a
trajectory view keeps its trajectories alive.

Arrays: libpolca is row-major. A C array `[K][N][T]` is the Julia array of
size `(T, N, K)` over the same memory; the wrappers below take and return
Julia arrays in the C order's reverse (a parameter vector is a
`Vector{Float32}`, a `[k][P]` block of directions is a `Matrix{Float32}` of
size `(P, k)`: one direction per column). `TrajectoryView` presents
`[K][N][T]` with C's index order, `v[k, i, t]`, without copying.
"""
module Polca

const libpolca = get(ENV, "POLCA_LIBRARY", "libpolca.so.0")

struct PolcaError <: Exception
    status::Int32
    message::String
    func::String
end

Base.showerror(io::IO, e::PolcaError) =
    print(io, e.func, ": ", status_string(e.status), " (", e.status, "): ", e.message)

status_string(status::Integer) =
    unsafe_string(ccall((:polca_status_string, libpolca), Cstring, (Int32,), status))
last_error() = unsafe_string(ccall((:polca_last_error, libpolca), Cstring, ()))
version() = unsafe_string(ccall((:polca_version_string, libpolca), Cstring, ()))
version_number() = ccall((:polca_version, libpolca), Int32, ())

# Exceptions raised inside Julia callbacks cannot cross C: they are kept
# here and rethrown (as the cause) once the libpolca call returns.
const pending_exception = Ref{Any}(nothing)

function check(status::Int32, func::String)
    exc = pending_exception[]
    pending_exception[] = nothing
    if status != 0
        err = PolcaError(status, last_error(), func)
        exc === nothing || throw(CompositeException([exc, err]))
        throw(err)
    end
    nothing
end

const OK = Int32(0)
const ERR_INVALID_ARGUMENT = Int32(-1)
const ERR_NOT_CONVERGED = Int32(-12)
const ERR_CANCELLED = Int32(-15)
const ERR_STATE = Int32(-16)

# ---- Options -------------------------------------------------------------

mutable struct Options
    ptr::Ptr{Cvoid}
end

"""
    Options(; kwargs...)

Named settings: `Options(backend="cpu", threads=2)`. Integers (and Bools),
floats and strings map to the C setters; `nothing` values are skipped.
Freed by the finalizer or `close`.
"""
function Options(; kwargs...)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_options_create, libpolca), Int32, (Ptr{Ptr{Cvoid}},), ref),
          "polca_options_create")
    o = Options(ref[])
    finalizer(close, o)
    for (k, v) in kwargs
        v === nothing || set!(o, String(k), v)
    end
    o
end

function set!(o::Options, name::String, v::Union{Integer,Bool})
    check(ccall((:polca_options_set_int, libpolca), Int32, (Ptr{Cvoid}, Cstring, Int64),
                o.ptr, name, Int64(v)), "polca_options_set_int")
end
function set!(o::Options, name::String, v::AbstractFloat)
    check(ccall((:polca_options_set_double, libpolca), Int32, (Ptr{Cvoid}, Cstring, Float64),
                o.ptr, name, v), "polca_options_set_double")
end
function set!(o::Options, name::String, v::AbstractString)
    check(ccall((:polca_options_set_string, libpolca), Int32, (Ptr{Cvoid}, Cstring, Cstring),
                o.ptr, name, v), "polca_options_set_string")
end
function unset!(o::Options, name::String)
    check(ccall((:polca_options_unset, libpolca), Int32, (Ptr{Cvoid}, Cstring), o.ptr, name),
          "polca_options_unset")
end

function Base.close(o::Options)
    o.ptr == C_NULL && return
    ccall((:polca_options_destroy, libpolca), Cvoid, (Ptr{Cvoid},), o.ptr)
    o.ptr = C_NULL
end

# An options pointer for keyword arguments (C_NULL when none); the Options
# object must be kept alive (GC.@preserve) around the call.
options_of(kwargs) = isempty(kwargs) ? nothing : Options(; kwargs...)
optr(o) = o === nothing ? C_NULL : o.ptr

# ---- Context -------------------------------------------------------------

mutable struct Context
    ptr::Ptr{Cvoid}
    children::Vector{WeakRef}   # destroyed before the context
    log_fn::Any
    progress_fn::Any
    comm::Any                   # the Comm set on it, kept alive while set
end

"""
    Context(; backend="auto", threads=0, ...)

The backend that computes ("auto", "cpu", "cuda"); see polca/core.h for the
options.
"""
function Context(; kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_context_create, libpolca), Int32,
                                  (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), optr(opts), ref),
                            "polca_context_create")
    opts === nothing || close(opts)
    c = Context(ref[], WeakRef[], nothing, nothing, nothing)
    finalizer(close, c)
    c
end

function backend(c::Context)
    out = Ref{Cstring}()
    check(ccall((:polca_context_backend, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cstring}),
                c.ptr, out), "polca_context_backend")
    unsafe_string(out[])
end

function device(c::Context)
    out = Ref{Cstring}()
    check(ccall((:polca_context_device, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cstring}),
                c.ptr, out), "polca_context_device")
    unsafe_string(out[])
end

function _log_tramp(user::Ptr{Cvoid}, level::Int32, msg::Cstring)::Cvoid
    c = unsafe_pointer_to_objref(user)::Context
    try
        c.log_fn(level, unsafe_string(msg))
    catch e
        pending_exception[] = e
    end
    nothing
end

function _progress_tramp(user::Ptr{Cvoid}, stage::Cstring, done::Int64, total::Int64,
                         value::Float64)::Int32
    c = unsafe_pointer_to_objref(user)::Context
    try
        return c.progress_fn(unsafe_string(stage), done, total, value) ? Int32(1) : Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end

"""
    set_log!(ctx, f; min_level=1)

`f(level, message)` receives the library's log lines; `nothing` turns
logging off.
"""
function set_log!(c::Context, f; min_level::Integer=1)
    c.log_fn = f
    fp = f === nothing ? C_NULL :
         @cfunction(_log_tramp, Cvoid, (Ptr{Cvoid}, Int32, Cstring))
    check(ccall((:polca_context_set_log, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Int32), c.ptr, fp,
                pointer_from_objref(c), min_level), "polca_context_set_log")
end

"""
    set_progress!(ctx, f)

`f(stage, done, total, value)` is called during long calls; returning
`true` cancels the call. `nothing` turns progress reports off.
"""
function set_progress!(c::Context, f)
    c.progress_fn = f
    fp = f === nothing ? C_NULL :
         @cfunction(_progress_tramp, Int32, (Ptr{Cvoid}, Cstring, Int64, Int64, Float64))
    check(ccall((:polca_context_set_progress, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), c.ptr, fp, pointer_from_objref(c)),
          "polca_context_set_progress")
end

# ---- several processes (polca/comm.h, polca/mpi.h) ----

"""The MPI module: `POLCA_MPI_MODULE` (a path) or `libpolca_mpi.so.0` on the
loader's path; it must link the MPI library that MPI.jl uses."""
const libpolca_mpi = get(ENV, "POLCA_MPI_MODULE", "libpolca_mpi.so.0")

"""
    Comm(fortran_handle; timeout=0.0)

A libpolca communicator over an MPI communicator, given by its Fortran
handle (MPI.jl: `MPI.Comm_c2f(comm)`), through the MPI module. Collective
over that communicator. `timeout`: seconds any collective may wait before it
fails (0: `POLCA_MPI_TIMEOUT`, else 600). Set it on a context with
`set_comm!`; the collective calls (trajectories, Hessian basis, clustering)
then share their work over the ranks (docs/scaling.md).
"""
mutable struct Comm
    ptr::Ptr{Cvoid}
end

function Comm(fortran_handle::Integer; timeout::Real=0.0)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    st = ccall((:polca_mpi_comm_create_f, libpolca_mpi), Int32,
               (Int64, Float64, Ptr{Ptr{Cvoid}}), fortran_handle, timeout, ref)
    if st != 0
        msg = unsafe_string(ccall((:polca_mpi_last_error, libpolca_mpi), Cstring, ()))
        throw(PolcaError(st, msg, "polca_mpi_comm_create_f"))
    end
    c = Comm(ref[])
    finalizer(close, c)
    c
end

function Base.close(c::Comm)
    c.ptr == C_NULL && return
    ccall((:polca_comm_destroy, libpolca), Cvoid, (Ptr{Cvoid},), c.ptr)
    c.ptr = C_NULL
end

"""
    comm_rank(comm) -> (rank, size)
"""
function comm_rank(c::Comm)
    r = Ref{Int32}(0)
    s = Ref{Int32}(0)
    check(ccall((:polca_comm_rank, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int32}, Ptr{Int32}),
                c.ptr, r, s), "polca_comm_rank")
    (Int(r[]), Int(s[]))
end

"""
    comm_agree(comm, status) -> status

Collective: every rank passes its status (0, or a failure whose message
`last_error()` holds); every rank gets the lowest failing rank's, its message
then `last_error()` ("rank R: ..."). For hosts whose ranks can fail apart
before a collective call.
"""
comm_agree(c::Comm, status::Integer) =
    ccall((:polca_comm_agree, libpolca), Int32, (Ptr{Cvoid}, Int32), c.ptr, status)

"""
    set_comm!(ctx, comm)

The communicator the context's collective calls share their work over;
`nothing`: this process alone. The context keeps `comm` alive while set.
"""
function set_comm!(ctx::Context, c::Union{Comm,Nothing})
    check(ccall((:polca_context_set_comm, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cvoid}),
                ctx.ptr, c === nothing ? C_NULL : c.ptr), "polca_context_set_comm")
    ctx.comm = c
    nothing
end

function Base.close(c::Context)
    c.ptr == C_NULL && return
    for w in c.children          # children first: they use the context
        h = w.value
        h === nothing || close(h)
    end
    ccall((:polca_context_destroy, libpolca), Cvoid, (Ptr{Cvoid},), c.ptr)
    c.ptr = C_NULL
end

# ---- Handles made from a context ---------------------------------------
# Each holds its context (so the context outlives it) and registers itself
# with it (so closing the context first destroys it first).

abstract type Handle end

function _register(h::Handle, ctx::Context)
    push!(ctx.children, WeakRef(h))
    finalizer(close, h)
    h
end

# Destroys the C handle once, and never after its context: should the
# context be finalized first (objects collected together finalize in no
# fixed order), the child is left alone rather than touched after free.
function Base.close(h::Handle)
    h.ptr == C_NULL && return nothing
    h.ctx.ptr == C_NULL || _destroy(h, h.ptr)
    h.ptr = C_NULL
    nothing
end

# ---- Data ----------------------------------------------------------------

mutable struct Data <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
end

_destroy(::Data, p::Ptr{Cvoid}) = ccall((:polca_data_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

"""
    tokens_data(ctx, tokens::Matrix{<:Integer}, mask=nothing)

Token data from `tokens` of size `(n_ctx, n_seq)` (one sequence per
column: the C layout `[n_seq][n_ctx]`), `mask` of the same size (nonzero
= scored) or `nothing`.
"""
function tokens_data(ctx::Context, tokens::AbstractMatrix{<:Integer}, mask=nothing)
    t = Int32.(tokens)
    n_ctx, n_seq = size(t)
    m = mask === nothing ? nothing : UInt8.(mask .!= 0)
    m === nothing || size(m) == size(t) || throw(ArgumentError("mask size differs from tokens"))
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve t m check(ccall((:polca_data_create_tokens, libpolca), Int32,
                                 (Ptr{Cvoid}, Int64, Int64, Ptr{Int32}, Ptr{UInt8}, Ptr{Ptr{Cvoid}}),
                                 ctx.ptr, n_seq, n_ctx, t, m === nothing ? C_NULL : pointer(m), ref),
                           "polca_data_create_tokens")
    _register(Data(ref[], ctx), ctx)
end

"""
    features_data(ctx, features::Matrix, labels)

Feature data: `features` of size `(n_features, n)` (one sample per
column), `labels` of length n.
"""
function features_data(ctx::Context, features::AbstractMatrix, labels::AbstractVector{<:Integer})
    x = Float32.(features)
    y = Int32.(labels)
    nf, n = size(x)
    length(y) == n || throw(ArgumentError("labels: $(length(y)) for $n samples"))
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve x y check(ccall((:polca_data_create_features, libpolca), Int32,
                                 (Ptr{Cvoid}, Int64, Int64, Ptr{Float32}, Ptr{Int32}, Ptr{Ptr{Cvoid}}),
                                 ctx.ptr, n, nf, x, y, ref), "polca_data_create_features")
    _register(Data(ref[], ctx), ctx)
end

"""
    indices_data(ctx, n_total, indices=nothing)

Sample numbers (0-based, as libpolca counts) into a host model's sample set.
"""
function indices_data(ctx::Context, n_total::Integer, indices=nothing)
    idx = indices === nothing ? nothing : Int64.(indices)
    n = idx === nothing ? n_total : length(idx)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve idx check(ccall((:polca_data_create_indices, libpolca), Int32,
                                 (Ptr{Cvoid}, Int64, Int64, Ptr{Int64}, Ptr{Ptr{Cvoid}}),
                                 ctx.ptr, n_total, n, idx === nothing ? C_NULL : pointer(idx), ref),
                           "polca_data_create_indices")
    _register(Data(ref[], ctx), ctx)
end

function n_samples(d::Data)
    out = Ref{Int64}(0)
    check(ccall((:polca_data_n_samples, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), d.ptr, out),
          "polca_data_n_samples")
    out[]
end

function n_seq(d::Data)
    out = Ref{Int64}(0)
    check(ccall((:polca_data_n_seq, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), d.ptr, out),
          "polca_data_n_seq")
    out[]
end

"(sequence, position) of a sample, all 0-based."
function sample_at(d::Data, sample::Integer)
    s, p = Ref{Int64}(0), Ref{Int64}(0)
    check(ccall((:polca_data_sample_at, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Int64}, Ptr{Int64}),
                d.ptr, sample, s, p), "polca_data_sample_at")
    (s[], p[])
end

function subset_sequences(d::Data, seq)
    s = Int64.(seq)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve s check(ccall((:polca_data_subset_sequences, libpolca), Int32,
                               (Ptr{Cvoid}, Int64, Ptr{Int64}, Ptr{Ptr{Cvoid}}), d.ptr, length(s), s, ref),
                         "polca_data_subset_sequences")
    _register(Data(ref[], d.ctx), d.ctx)
end

function subset_samples(d::Data, samples)
    s = Int64.(samples)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve s check(ccall((:polca_data_subset_samples, libpolca), Int32,
                               (Ptr{Cvoid}, Int64, Ptr{Int64}, Ptr{Ptr{Cvoid}}), d.ptr, length(s), s, ref),
                         "polca_data_subset_samples")
    _register(Data(ref[], d.ctx), d.ctx)
end

# ---- Models --------------------------------------------------------------

mutable struct Model <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
    callbacks::Dict{Symbol,Any}  # host model: the Julia functions
end

_destroy(::Model, p::Ptr{Cvoid}) = ccall((:polca_model_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

# The most dimensions a parameter tensor has (POLCA_MODEL_MAX_DIMS).
const MODEL_MAX_DIMS = 4

"""
    transformer(ctx; n_layers, d_model, n_heads, d_vocab, n_ctx, d_head, d_mlp, act_fn)

The built-in HookedTransformer-compatible transformer (polca/model.h).
"""
function transformer(ctx::Context; kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_model_create_transformer, libpolca), Int32,
                                  (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), ctx.ptr, optr(opts), ref),
                            "polca_model_create_transformer")
    _register(Model(ref[], ctx, Dict{Symbol,Any}()), ctx)
end

"""
    mlp(ctx; n_features, n_classes, hidden="", activation="tanh")
"""
function mlp(ctx::Context; kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_model_create_mlp, libpolca), Int32,
                                  (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}), ctx.ptr, optr(opts), ref),
                            "polca_model_create_mlp")
    _register(Model(ref[], ctx, Dict{Symbol,Any}()), ctx)
end

# Host-model trampolines: `user` is the Model. theta and the inputs are
# wrapped without copying (valid during the call only).
function _loss_tramp(user::Ptr{Cvoid}, theta::Ptr{Float32}, n::Int64, samples::Ptr{Int64},
                     out::Ptr{Float32})::Int32
    m = unsafe_pointer_to_objref(user)::Model
    try
        P = m.callbacks[:n_params]::Int
        r = m.callbacks[:loss](unsafe_wrap(Array, theta, P), unsafe_wrap(Array, samples, n))
        unsafe_wrap(Array, out, n) .= r
        return Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end

function _grad_tramp(user::Ptr{Cvoid}, theta::Ptr{Float32}, n::Int64, samples::Ptr{Int64},
                     mean::Ptr{Float64}, grad::Ptr{Float32})::Int32
    m = unsafe_pointer_to_objref(user)::Model
    try
        P = m.callbacks[:n_params]::Int
        l, g = m.callbacks[:grad](unsafe_wrap(Array, theta, P), unsafe_wrap(Array, samples, n))
        unsafe_store!(mean, Float64(l))
        unsafe_wrap(Array, grad, P) .= g
        return Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end

function _hvp_tramp(user::Ptr{Cvoid}, theta::Ptr{Float32}, n::Int64, samples::Ptr{Int64},
                    v::Ptr{Float32}, hv::Ptr{Float32})::Int32
    m = unsafe_pointer_to_objref(user)::Model
    try
        P = m.callbacks[:n_params]::Int
        r = m.callbacks[:hvp](unsafe_wrap(Array, theta, P), unsafe_wrap(Array, samples, n),
                              unsafe_wrap(Array, v, P))
        unsafe_wrap(Array, hv, P) .= r
        return Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end

# dirs: C [k][P] = Julia (P, k); out: C [k][n] = Julia (n, k).
function _dirderiv_call(key::Symbol, user::Ptr{Cvoid}, theta::Ptr{Float32}, n::Int64,
                        samples::Ptr{Int64}, k::Int64, dirs::Ptr{Float32}, out::Ptr{Float32})
    m = unsafe_pointer_to_objref(user)::Model
    try
        P = m.callbacks[:n_params]::Int
        r = m.callbacks[key](unsafe_wrap(Array, theta, P), unsafe_wrap(Array, samples, n),
                             unsafe_wrap(Array, dirs, (Int(P), Int(k))))
        unsafe_wrap(Array, out, (Int(n), Int(k))) .= r
        return Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end
_dirderiv_tramp(u::Ptr{Cvoid}, t::Ptr{Float32}, n::Int64, s::Ptr{Int64}, k::Int64,
                d::Ptr{Float32}, o::Ptr{Float32})::Int32 = _dirderiv_call(:dirderiv, u, t, n, s, k, d, o)
_second_tramp(u::Ptr{Cvoid}, t::Ptr{Float32}, n::Int64, s::Ptr{Int64}, k::Int64,
              d::Ptr{Float32}, o::Ptr{Float32})::Int32 = _dirderiv_call(:second_dirderiv, u, t, n, s, k, d, o)

"""
    host_model(ctx, n_params, n_samples; loss, grad, hvp=nothing, dirderiv=nothing,
               second_dirderiv=nothing, fd_step=nothing, fd_step2=nothing)

A model computed by Julia functions (evaluate it on `indices_data`):
`loss(theta, samples) -> Vector` (n), `grad(theta, samples) -> (mean, Vector)`,
`hvp(theta, samples, v) -> Vector`, `dirderiv(theta, samples, dirs::Matrix (P, k))
-> Matrix (n, k)`, `second_dirderiv` likewise. `samples` are 0-based.
Missing derivatives: libpolca's central differences.
"""
function host_model(ctx::Context, n_params_::Integer, n_samples_::Integer; loss, grad,
                    hvp=nothing, dirderiv=nothing, second_dirderiv=nothing,
                    fd_step=nothing, fd_step2=nothing)
    opts = Options(; fd_step, fd_step2)  # nothing values are skipped
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_model_create_host, libpolca), Int32,
                                  (Ptr{Cvoid}, Int64, Int64, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                  ctx.ptr, n_params_, n_samples_, optr(opts), ref),
                            "polca_model_create_host")
    m = _register(Model(ref[], ctx, Dict{Symbol,Any}(:n_params => Int(n_params_))), ctx)
    set_callbacks!(m; loss, grad, hvp, dirderiv, second_dirderiv)
    m
end

function set_callbacks!(m::Model; kwargs...)
    for (name, f) in kwargs
        m.callbacks[name] = f
        user = pointer_from_objref(m)
        if name === :loss
            fp = f === nothing ? C_NULL :
                 @cfunction(_loss_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Int64}, Ptr{Float32}))
            check(ccall((:polca_model_set_loss_callback, libpolca), Int32,
                        (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), m.ptr, fp, user), "polca_model_set_loss_callback")
        elseif name === :grad
            fp = f === nothing ? C_NULL :
                 @cfunction(_grad_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Int64},
                                                 Ptr{Float64}, Ptr{Float32}))
            check(ccall((:polca_model_set_grad_callback, libpolca), Int32,
                        (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), m.ptr, fp, user), "polca_model_set_grad_callback")
        elseif name === :hvp
            fp = f === nothing ? C_NULL :
                 @cfunction(_hvp_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Int64},
                                                Ptr{Float32}, Ptr{Float32}))
            check(ccall((:polca_model_set_hvp_callback, libpolca), Int32,
                        (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), m.ptr, fp, user), "polca_model_set_hvp_callback")
        elseif name === :dirderiv
            fp = f === nothing ? C_NULL :
                 @cfunction(_dirderiv_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Int64}, Int64,
                                                     Ptr{Float32}, Ptr{Float32}))
            check(ccall((:polca_model_set_dirderiv_callback, libpolca), Int32,
                        (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), m.ptr, fp, user),
                  "polca_model_set_dirderiv_callback")
        elseif name === :second_dirderiv
            fp = f === nothing ? C_NULL :
                 @cfunction(_second_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Int64}, Int64,
                                                   Ptr{Float32}, Ptr{Float32}))
            check(ccall((:polca_model_set_second_dirderiv_callback, libpolca), Int32,
                        (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}), m.ptr, fp, user),
                  "polca_model_set_second_dirderiv_callback")
        else
            throw(ArgumentError("unknown host-model callback $name"))
        end
    end
    m
end

"""
    set_layout!(m, tensors)

Host models: names the tensors that make up theta, `tensors` a vector of
`(name, shape)` pairs back to back in that order (shape in C order, as
`tensor_info` returns it, at most 4 dimensions; the default layout is one
tensor "theta" of n_params values). Series created from the model then
carry this layout, a series of another layout is refused (a `PolcaError`
ERR_LAYOUT_MISMATCH naming the first tensor that differs), and safetensors
files are read by these names (polca_model_set_host_layout). The sizes
must add up to n_params; on failure the layout is unchanged.
"""
function set_layout!(m::Model, tensors)
    entries = [(String(first(t)), Int64[Int64(x) for x in last(t)]) for t in tensors]
    n = length(entries)
    for (name, shape) in entries
        length(shape) <= MODEL_MAX_DIMS ||
            throw(ArgumentError("tensor \"$name\": $(length(shape)) dimensions (at most $MODEL_MAX_DIMS)"))
    end
    names = [e[1] for e in entries]
    ptrs = [Base.unsafe_convert(Cstring, nm) for nm in names]   # NUL inside a name: ArgumentError
    ndims = Int32[length(e[2]) for e in entries]
    shapes = zeros(Int64, MODEL_MAX_DIMS * max(n, 1))            # C [n][MODEL_MAX_DIMS]
    for (i, (_, shape)) in enumerate(entries), (j, x) in enumerate(shape)
        shapes[(i - 1) * MODEL_MAX_DIMS + j] = x
    end
    GC.@preserve names ptrs ndims shapes check(ccall((:polca_model_set_host_layout, libpolca), Int32,
                                                     (Ptr{Cvoid}, Int64, Ptr{Cstring}, Ptr{Int32}, Ptr{Int64}),
                                                     m.ptr, n, ptrs, ndims, shapes),
                                               "polca_model_set_host_layout")
    m
end

function kind(m::Model)
    out = Ref{Cstring}()
    check(ccall((:polca_model_kind, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cstring}), m.ptr, out),
          "polca_model_kind")
    unsafe_string(out[])
end

function n_params(m::Model)
    out = Ref{Int64}(0)
    check(ccall((:polca_model_n_params, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), m.ptr, out),
          "polca_model_n_params")
    out[]
end

function n_tensors(m::Model)
    out = Ref{Int64}(0)
    check(ccall((:polca_model_n_tensors, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), m.ptr, out),
          "polca_model_n_tensors")
    out[]
end

"(name, shape in C order, 0-based offset) of tensor `index` (0-based)."
function tensor_info(m::Model, index::Integer)
    name = Ref{Cstring}()
    ndim = Ref{Int32}(0)
    shape = zeros(Int64, MODEL_MAX_DIMS)
    off = Ref{Int64}(0)
    check(ccall((:polca_model_tensor_info, libpolca), Int32,
                (Ptr{Cvoid}, Int64, Ptr{Cstring}, Ptr{Int32}, Ptr{Int64}, Ptr{Int64}),
                m.ptr, index, name, ndim, shape, off), "polca_model_tensor_info")
    (unsafe_string(name[]), Tuple(shape[1:ndim[]]), off[])
end

function find_tensor(m::Model, name::AbstractString)
    out = Ref{Int64}(0)
    check(ccall((:polca_model_find_tensor, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Int64}),
                m.ptr, name, out), "polca_model_find_tensor")
    out[]
end

function init(m::Model, seed::Integer=0)
    theta = Vector{Float32}(undef, n_params(m))
    check(ccall((:polca_model_init, libpolca), Int32, (Ptr{Cvoid}, UInt64, Ptr{Float32}),
                m.ptr, UInt64(seed), theta), "polca_model_init")
    theta
end

function load_safetensors(m::Model, path::AbstractString)
    theta = Vector{Float32}(undef, n_params(m))
    check(ccall((:polca_model_load_safetensors, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Float32}),
                m.ptr, path, theta), "polca_model_load_safetensors")
    theta
end

function save_safetensors(m::Model, path::AbstractString, theta::AbstractVector)
    t = _theta(m, theta)
    check(ccall((:polca_model_save_safetensors, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Float32}),
                m.ptr, path, t), "polca_model_save_safetensors")
end

function _theta(m::Model, theta)
    t = Vector{Float32}(theta)
    length(t) == n_params(m) || throw(DimensionMismatch("theta has $(length(t)) values, the model $(n_params(m))"))
    t
end

function losses(m::Model, d::Data, theta)
    t = _theta(m, theta)
    out = Vector{Float32}(undef, n_samples(d))
    check(ccall((:polca_model_losses, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Ptr{Float32}),
                m.ptr, d.ptr, t, out), "polca_model_losses")
    out
end

"(mean loss, gradient)"
function grad(m::Model, d::Data, theta)
    t = _theta(m, theta)
    mean = Ref{Float64}(0)
    g = Vector{Float32}(undef, n_params(m))
    check(ccall((:polca_model_grad, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Ptr{Float64}, Ptr{Float32}),
                m.ptr, d.ptr, t, mean, g), "polca_model_grad")
    (mean[], g)
end

function hvp(m::Model, d::Data, theta, v)
    t, vv = _theta(m, theta), _theta(m, v)
    out = Vector{Float32}(undef, n_params(m))
    check(ccall((:polca_model_hvp, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Ptr{Float32}, Ptr{Float32}),
                m.ptr, d.ptr, t, vv, out), "polca_model_hvp")
    out
end

"""
    dirderivs(m, data, theta, dirs::Matrix (P, k); second=true)

(g, c, losses): g and c of size (N, k) (C's [k][N]), c `nothing` when
`second=false`.
"""
function dirderivs(m::Model, d::Data, theta, dirs::AbstractMatrix; second::Bool=true)
    t = _theta(m, theta)
    D = Matrix{Float32}(dirs)
    size(D, 1) == n_params(m) || throw(DimensionMismatch("dirs must be (P, k)"))
    k = size(D, 2)
    N = n_samples(d)
    g = Matrix{Float32}(undef, N, k)
    c = second ? Matrix{Float32}(undef, N, k) : nothing
    l = Vector{Float32}(undef, N)
    GC.@preserve c check(ccall((:polca_model_dirderivs, libpolca), Int32,
                               (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Int64, Ptr{Float32}, Ptr{Float32},
                                Ptr{Float32}, Ptr{Float32}),
                               m.ptr, d.ptr, t, k, D, l, g, c === nothing ? C_NULL : pointer(c)),
                         "polca_model_dirderivs")
    (g, c, l)
end

# ---- Checkpoints -----------------------------------------------------------

mutable struct Checkpoints <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
end

_destroy(::Checkpoints, p::Ptr{Cvoid}) = ccall((:polca_checkpoints_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

# A nullable file name: Ptr{UInt8} (NULL for nothing) into a String kept
# alive by the caller's GC.@preserve.
_cpath(p) = p === nothing ? Ptr{UInt8}(C_NULL) : pointer(p)

"A new series for the model's layout: in memory (path nothing) or a file."
function create_checkpoints(ctx::Context, m::Model, path=nothing; kwargs...)
    path = path === nothing ? nothing : String(path)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts path check(ccall((:polca_checkpoints_create, libpolca), Int32,
                                       (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{UInt8}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                       ctx.ptr, m.ptr, _cpath(path), optr(opts), ref),
                                 "polca_checkpoints_create")
    _register(Checkpoints(ref[], ctx), ctx)
end

function import_safetensors(ctx::Context, m::Model, files::AbstractVector{<:AbstractString},
                            path=nothing; kwargs...)
    path = path === nothing ? nothing : String(path)
    opts = options_of(kwargs)
    strs = [String(f) for f in files]
    ptrs = [Base.unsafe_convert(Cstring, s) for s in strs]
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts strs ptrs path check(ccall((:polca_checkpoints_import_safetensors, libpolca), Int32,
                                                 (Ptr{Cvoid}, Ptr{Cvoid}, Int64, Ptr{Cstring}, Ptr{UInt8},
                                                  Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                                 ctx.ptr, m.ptr, length(ptrs), ptrs, _cpath(path), optr(opts), ref),
                                           "polca_checkpoints_import_safetensors")
    _register(Checkpoints(ref[], ctx), ctx)
end

function open_checkpoints(ctx::Context, path::AbstractString; kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_checkpoints_open, libpolca), Int32,
                                  (Ptr{Cvoid}, Cstring, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                  ctx.ptr, path, optr(opts), ref), "polca_checkpoints_open")
    _register(Checkpoints(ref[], ctx), ctx)
end

function append_checkpoint!(s::Checkpoints, step::Integer, theta::AbstractVector)
    t = Vector{Float32}(theta)
    check(ccall((:polca_checkpoints_append, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Float32}, Int64),
                s.ptr, step, t, length(t)), "polca_checkpoints_append")
end

function Base.length(s::Checkpoints)
    out = Ref{Int64}(0)
    check(ccall((:polca_checkpoints_count, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), s.ptr, out),
          "polca_checkpoints_count")
    Int(out[])
end

function n_params(s::Checkpoints)
    out = Ref{Int64}(0)
    check(ccall((:polca_checkpoints_n_params, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), s.ptr, out),
          "polca_checkpoints_n_params")
    out[]
end

function layout_hash(s::Checkpoints)
    out = Ref{UInt64}(0)
    check(ccall((:polca_checkpoints_layout_hash, libpolca), Int32, (Ptr{Cvoid}, Ptr{UInt64}), s.ptr, out),
          "polca_checkpoints_layout_hash")
    out[]
end

function path(s::Checkpoints)
    out = Ref{Cstring}()
    check(ccall((:polca_checkpoints_path, libpolca), Int32, (Ptr{Cvoid}, Ptr{Cstring}), s.ptr, out),
          "polca_checkpoints_path")
    out[] == C_NULL ? nothing : unsafe_string(out[])
end

"The training step of checkpoint `index` (0-based)."
function step(s::Checkpoints, index::Integer)
    out = Ref{Int64}(0)
    check(ccall((:polca_checkpoints_step, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Int64}), s.ptr, index, out),
          "polca_checkpoints_step")
    out[]
end

function steps(s::Checkpoints)
    n = length(s)
    out = Vector{Int64}(undef, n)
    check(ccall((:polca_checkpoints_steps, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}, Int64), s.ptr, out, n),
          "polca_checkpoints_steps")
    out
end

"The 0-based index of the checkpoint at a training step, or nothing."
function find_step(s::Checkpoints, step_::Integer)
    out = Ref{Int64}(0)
    check(ccall((:polca_checkpoints_find_step, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Int64}),
                s.ptr, step_, out), "polca_checkpoints_find_step")
    out[] < 0 ? nothing : out[]
end

"theta of checkpoint `index` (0-based), bit-exact."
function read(s::Checkpoints, index::Integer)
    P = n_params(s)
    out = Vector{Float32}(undef, P)
    check(ccall((:polca_checkpoints_read, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Float32}, Int64),
                s.ptr, index, out, P), "polca_checkpoints_read")
    out
end

function save(s::Checkpoints, path_::AbstractString; kwargs...)
    opts = options_of(kwargs)
    GC.@preserve opts check(ccall((:polca_checkpoints_save, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Cvoid}),
                                  s.ptr, path_, optr(opts)), "polca_checkpoints_save")
end

function export_npy(s::Checkpoints, index::Integer, path_::AbstractString)
    check(ccall((:polca_checkpoints_export_npy, libpolca), Int32, (Ptr{Cvoid}, Int64, Cstring),
                s.ptr, index, path_), "polca_checkpoints_export_npy")
end

# ---- Eigensolver -----------------------------------------------------------

mutable struct _Operator
    f::Any
    n::Int64
end

function _operator_tramp(user::Ptr{Cvoid}, x::Ptr{Float32}, y::Ptr{Float32})::Int32
    op = unsafe_pointer_to_objref(user)::_Operator
    try
        unsafe_wrap(Array, y, op.n) .= op.f(unsafe_wrap(Array, x, op.n))
        return Int32(0)
    catch e
        pending_exception[] = e
        return Int32(1)
    end
end

"""
    eigen_solve(ctx, n, apply, k; start=nothing, allow_unconverged=false, kwargs...)

The k eigenpairs at one end of a symmetric operator `apply(x) -> A x`
(options: which, tol, max_products, seed, krylov_size). Returns
(values, vectors (n, k), residuals, converged, products).
"""
function eigen_solve(ctx::Context, n::Integer, apply, k::Integer; start=nothing,
                     allow_unconverged::Bool=false, kwargs...)
    op = _Operator(apply, n)
    opts = options_of(kwargs)
    st = start === nothing ? nothing : Matrix{Float32}(start)
    values = Vector{Float64}(undef, k)
    vectors = Matrix{Float32}(undef, n, k)
    residuals = Vector{Float64}(undef, k)
    conv = Vector{Int32}(undef, k)
    products = Ref{Int64}(0)
    fp = @cfunction(_operator_tramp, Int32, (Ptr{Cvoid}, Ptr{Float32}, Ptr{Float32}))
    status = GC.@preserve op opts st ccall((:polca_eigen_solve, libpolca), Int32,
        (Ptr{Cvoid}, Int64, Ptr{Cvoid}, Ptr{Cvoid}, Int64, Ptr{Float32}, Int64, Ptr{Cvoid},
         Ptr{Float64}, Ptr{Float32}, Ptr{Float64}, Ptr{Int32}, Ptr{Int64}),
        ctx.ptr, n, fp, pointer_from_objref(op), k, st === nothing ? C_NULL : pointer(st),
        st === nothing ? 0 : size(st, 2), optr(opts), values, vectors, residuals, conv, products)
    status == ERR_NOT_CONVERGED && allow_unconverged && (status = OK)
    check(status, "polca_eigen_solve")
    (values, vectors, residuals, conv .!= 0, products[])
end

# ---- Bases -----------------------------------------------------------------

# Basis vector kinds (info(b, i).kind; polca/basis.h POLCA_BASIS_KIND_*).
const BASIS_KIND_HESSIAN, BASIS_KIND_HESSIAN_SHUFFLED, BASIS_KIND_RANDOM, BASIS_KIND_AXIS,
      BASIS_KIND_HOST, BASIS_KIND_HESSIAN_SCALED, BASIS_KIND_HESSIAN_SCALED_SHUFFLED =
    Int32(1), Int32(2), Int32(3), Int32(4), Int32(5), Int32(6), Int32(7)

mutable struct Basis <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
end

_destroy(::Basis, p::Ptr{Cvoid}) = ccall((:polca_basis_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

function random_basis(ctx::Context, n_params_::Integer, k::Integer; kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_basis_create_random, libpolca), Int32,
                                  (Ptr{Cvoid}, Int64, Int64, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                  ctx.ptr, n_params_, k, optr(opts), ref), "polca_basis_create_random")
    _register(Basis(ref[], ctx), ctx)
end

function axis_basis(ctx::Context, theta::AbstractVector, k::Integer)
    t = Vector{Float32}(theta)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_basis_create_axis, libpolca), Int32,
                (Ptr{Cvoid}, Int64, Ptr{Float32}, Int64, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                ctx.ptr, length(t), t, k, C_NULL, ref), "polca_basis_create_axis")
    _register(Basis(ref[], ctx), ctx)
end

"The columns of `vectors` (P, k), orthonormalized in order."
function basis_from_vectors(ctx::Context, vectors::AbstractMatrix; kwargs...)
    V = Matrix{Float32}(vectors)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_basis_create_from_vectors, libpolca), Int32,
                                  (Ptr{Cvoid}, Int64, Int64, Ptr{Float32}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                  ctx.ptr, size(V, 1), size(V, 2), V, optr(opts), ref),
                            "polca_basis_create_from_vectors")
    _register(Basis(ref[], ctx), ctx)
end

"""
    hessian_basis(ctx, model, data, series; k=1, indices=nothing, scales=nothing,
                  allow_unconverged=false, kwargs...)

Algorithm 1 over the chosen (0-based) checkpoints of the series. With
`scales` (a `Checkpoints` series of the model's layout holding the
optimizer's per-parameter step scales s >= 0 at every basis step, e.g. Adam's
1/(sqrt(v_hat) + eps)), the basis in the optimizer's geometry
(polca_basis_create_hessian_scaled): the top eigenvectors w of
P S^1/2 H S^1/2 P mapped back to S^1/2 w (vector kinds `BASIS_KIND_HESSIAN_SCALED`,
`BASIS_KIND_HESSIAN_SCALED_SHUFFLED` with shuffle=1).
With `allow_unconverged`, a basis whose eigenpairs did not all converge is
returned (see `info(b, i).converged`); otherwise that throws.
"""
function hessian_basis(ctx::Context, m::Model, d::Data, s::Checkpoints; k::Integer=1,
                       indices=nothing, scales::Union{Checkpoints,Nothing}=nothing,
                       allow_unconverged::Bool=false, kwargs...)
    idx = indices === nothing ? nothing : Int64.(indices)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    func = scales === nothing ? "polca_basis_create_hessian" : "polca_basis_create_hessian_scaled"
    status = GC.@preserve idx opts scales begin
        ip, ni = idx === nothing ? C_NULL : pointer(idx), idx === nothing ? 0 : length(idx)
        if scales === nothing
            ccall((:polca_basis_create_hessian, libpolca), Int32,
                  (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Int64}, Int64, Int64, Ptr{Cvoid},
                   Ptr{Ptr{Cvoid}}),
                  ctx.ptr, m.ptr, d.ptr, s.ptr, ip, ni, k, optr(opts), ref)
        else
            ccall((:polca_basis_create_hessian_scaled, libpolca), Int32,
                  (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Int64}, Int64, Int64,
                   Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                  ctx.ptr, m.ptr, d.ptr, s.ptr, scales.ptr, ip, ni, k, optr(opts), ref)
        end
    end
    b = (status == OK || status == ERR_NOT_CONVERGED) ? _register(Basis(ref[], ctx), ctx) : nothing
    status == ERR_NOT_CONVERGED && allow_unconverged && (status = OK)
    check(status, func)
    b
end

function load_basis(ctx::Context, path_::AbstractString)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_basis_load, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}),
                ctx.ptr, path_, ref), "polca_basis_load")
    _register(Basis(ref[], ctx), ctx)
end

function Base.length(b::Basis)
    out = Ref{Int64}(0)
    check(ccall((:polca_basis_count, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), b.ptr, out),
          "polca_basis_count")
    Int(out[])
end

function n_params(b::Basis)
    out = Ref{Int64}(0)
    check(ccall((:polca_basis_n_params, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}), b.ptr, out),
          "polca_basis_n_params")
    out[]
end

"Vector i (0-based)."
function vector(b::Basis, i::Integer)
    P = n_params(b)
    out = Vector{Float32}(undef, P)
    check(ccall((:polca_basis_get_vector, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Float32}, Int64),
                b.ptr, i, out, P), "polca_basis_get_vector")
    out
end

"Metadata of vector i (0-based): (kind, source_step, source_index, eigenvalue, residual, converged)."
function info(b::Basis, i::Integer)
    kind_, conv = Ref{Int32}(0), Ref{Int32}(0)
    step_, index = Ref{Int64}(0), Ref{Int64}(0)
    ev, res = Ref{Float64}(0), Ref{Float64}(0)
    check(ccall((:polca_basis_get_info, libpolca), Int32,
                (Ptr{Cvoid}, Int64, Ptr{Int32}, Ptr{Int64}, Ptr{Int64}, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}),
                b.ptr, i, kind_, step_, index, ev, res, conv), "polca_basis_get_info")
    (kind=kind_[], source_step=step_[], source_index=index[], eigenvalue=ev[], residual=res[],
     converged=conv[] != 0)
end

"Removes the vectors at these 0-based positions."
function drop!(b::Basis, indices)
    idx = Int64.(collect(indices))
    GC.@preserve idx check(ccall((:polca_basis_drop, libpolca), Int32, (Ptr{Cvoid}, Ptr{Int64}, Int64),
                                 b.ptr, isempty(idx) ? C_NULL : pointer(idx), length(idx)), "polca_basis_drop")
end

save(b::Basis, path_::AbstractString) =
    check(ccall((:polca_basis_save, libpolca), Int32, (Ptr{Cvoid}, Cstring), b.ptr, path_), "polca_basis_save")
export_npy(b::Basis, path_::AbstractString) =
    check(ccall((:polca_basis_export_npy, libpolca), Int32, (Ptr{Cvoid}, Cstring), b.ptr, path_),
          "polca_basis_export_npy")

# ---- Trajectories ------------------------------------------------------------

const TRAJ_POLCA, TRAJ_FIRST_ORDER, TRAJ_FISHER, TRAJ_LCA, TRAJ_EXACT_LOSS, TRAJ_LOSS_CHANGE =
    Int32(0), Int32(1), Int32(2), Int32(3), Int32(4), Int32(5)

mutable struct Trajectories <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
end

_destroy(::Trajectories, p::Ptr{Cvoid}) = ccall((:polca_trajectories_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

"""
    trajectories(ctx, model, data, series, basis; lca_basis=nothing, kwargs...)

Options: curvature ("exact", "secant", "none"), first_order, fisher, block.
"""
function trajectories(ctx::Context, m::Model, d::Data, s::Checkpoints, b::Basis; lca_basis=nothing,
                      kwargs...)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve opts check(ccall((:polca_trajectories_create, libpolca), Int32,
                                  (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Cvoid},
                                   Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                                  ctx.ptr, m.ptr, d.ptr, s.ptr, b.ptr,
                                  lca_basis === nothing ? C_NULL : lca_basis.ptr, optr(opts), ref),
                            "polca_trajectories_create")
    _register(Trajectories(ref[], ctx), ctx)
end

function load_trajectories(ctx::Context, path_::AbstractString)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_trajectories_load, libpolca), Int32, (Ptr{Cvoid}, Cstring, Ptr{Ptr{Cvoid}}),
                ctx.ptr, path_, ref), "polca_trajectories_load")
    _register(Trajectories(ref[], ctx), ctx)
end

"""
    TrajectoryView

A read-only `[K][N][T]` array over the library's memory, indexed as C
orders it (`v[k, i, t]`, 1-based), without a copy. It holds its
Trajectories, so the memory stays valid while the view is reachable.
"""
struct TrajectoryView <: AbstractArray{Float32,3}
    owner::Trajectories
    data::Array{Float32,3}   # (T, N, K) over the C buffer
end
Base.size(v::TrajectoryView) = reverse(size(v.data))
Base.getindex(v::TrajectoryView, k::Int, i::Int, t::Int) = v.data[t, i, k]
Base.IndexStyle(::Type{TrajectoryView}) = IndexCartesian()

function view(t::Trajectories, kind_::Integer=TRAJ_POLCA)
    data = Ref{Ptr{Float32}}(C_NULL)
    k, n, tt = Ref{Int64}(0), Ref{Int64}(0), Ref{Int64}(0)
    check(ccall((:polca_trajectories_view, libpolca), Int32,
                (Ptr{Cvoid}, Int32, Ptr{Ptr{Float32}}, Ptr{Int64}, Ptr{Int64}, Ptr{Int64}),
                t.ptr, kind_, data, k, n, tt), "polca_trajectories_view")
    TrajectoryView(t, unsafe_wrap(Array, data[], (Int(tt[]), Int(n[]), Int(k[])); own=false))
end

"The training steps of the T1 checkpoints (a copy)."
function steps(t::Trajectories)
    data = Ref{Ptr{Int64}}(C_NULL)
    t1 = Ref{Int64}(0)
    check(ccall((:polca_trajectories_steps, libpolca), Int32, (Ptr{Cvoid}, Ptr{Ptr{Int64}}, Ptr{Int64}),
                t.ptr, data, t1), "polca_trajectories_steps")
    copy(unsafe_wrap(Array, data[], Int(t1[]); own=false))
end

function final_means(t::Trajectories, kind_::Integer=TRAJ_POLCA)
    K = size(view(t, kind_), 1)
    out = Vector{Float64}(undef, K)
    check(ccall((:polca_trajectories_final_means, libpolca), Int32, (Ptr{Cvoid}, Int32, Ptr{Float64}, Int64),
                t.ptr, kind_, out, K), "polca_trajectories_final_means")
    out
end

"Samples whose projected loss along direction (0-based) decreases overall."
function decreasing(t::Trajectories, kind_::Integer, direction::Integer)
    N = size(view(t, kind_), 2)
    out = Vector{UInt8}(undef, N)
    count = Ref{Int64}(0)
    check(ccall((:polca_trajectories_decreasing, libpolca), Int32,
                (Ptr{Cvoid}, Int32, Int64, Ptr{UInt8}, Int64, Ptr{Int64}),
                t.ptr, kind_, direction, out, N, count), "polca_trajectories_decreasing")
    out .!= 0
end

save(t::Trajectories, path_::AbstractString) =
    check(ccall((:polca_trajectories_save, libpolca), Int32, (Ptr{Cvoid}, Cstring), t.ptr, path_),
          "polca_trajectories_save")
export_npy(t::Trajectories, kind_::Integer, path_::AbstractString) =
    check(ccall((:polca_trajectories_export_npy, libpolca), Int32, (Ptr{Cvoid}, Int32, Cstring),
                t.ptr, kind_, path_), "polca_trajectories_export_npy")

# ---- Clustering ----------------------------------------------------------------

"""
    hdbscan(ctx, x::Matrix (d, n); kwargs...)

HDBSCAN of the n columns of x (the hdbscan package's options). Returns
(labels (-1 noise, clusters 0-based), probabilities, outlier_scores, n_clusters).
"""
function hdbscan(ctx::Context, x::AbstractMatrix; kwargs...)
    X = Matrix{Float32}(x)
    d, n = size(X)
    opts = options_of(kwargs)
    labels = Vector{Int32}(undef, n)
    prob = Vector{Float32}(undef, n)
    score = Vector{Float32}(undef, n)
    nc = Ref{Int32}(0)
    GC.@preserve opts check(ccall((:polca_hdbscan, libpolca), Int32,
                                  (Ptr{Cvoid}, Int64, Int64, Ptr{Float32}, Ptr{Cvoid}, Ptr{Int32},
                                   Ptr{Float32}, Ptr{Float32}, Ptr{Int32}),
                                  ctx.ptr, n, d, X, optr(opts), labels, prob, score, nc), "polca_hdbscan")
    (labels, prob, score, nc[])
end

mutable struct Clustering <: Handle
    ptr::Ptr{Cvoid}
    ctx::Context
end

_destroy(::Clustering, p::Ptr{Cvoid}) = ccall((:polca_clustering_destroy, libpolca), Cvoid, (Ptr{Cvoid},), p)

"""
    clustering(ctx, traj::Array{Float32,3} (T, N, K); t1=T, exact_loss=nothing (T1, N), kwargs...)

Per-direction HDBSCAN of trajectories (C's [K][N][T]); a TrajectoryView
works too.
"""
function clustering(ctx::Context, traj::AbstractArray{<:Real,3}; t1=nothing, exact_loss=nothing,
                    kwargs...)
    X = traj isa TrajectoryView ? traj.data : Array{Float32,3}(traj)
    T, N, K = size(X)
    E = exact_loss === nothing ? nothing : Matrix{Float32}(exact_loss)
    opts = options_of(kwargs)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    GC.@preserve X E opts traj check(ccall((:polca_clustering_create, libpolca), Int32,
        (Ptr{Cvoid}, Int64, Int64, Int64, Ptr{Float32}, Int64, Ptr{Float32}, Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
        ctx.ptr, K, N, T, X, t1 === nothing ? T : t1, E === nothing ? C_NULL : pointer(E), optr(opts), ref),
        "polca_clustering_create")
    _register(Clustering(ref[], ctx), ctx)
end

"(k, n, t, t1, n_clusters)"
function shape(c::Clustering)
    v = [Ref{Int64}(0) for _ in 1:5]
    check(ccall((:polca_clustering_shape, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{Int64}, Ptr{Int64}, Ptr{Int64}, Ptr{Int64}, Ptr{Int64}),
                c.ptr, v[1], v[2], v[3], v[4], v[5]), "polca_clustering_shape")
    Tuple(r[] for r in v)
end

"(labels, probabilities, outlier_scores, onsets) of one 0-based direction."
function labels(c::Clustering, direction::Integer)
    n = shape(c)[2]
    lab = Vector{Int32}(undef, n)
    prob = Vector{Float32}(undef, n)
    score = Vector{Float32}(undef, n)
    on = Vector{Float64}(undef, n)
    check(ccall((:polca_clustering_labels, libpolca), Int32,
                (Ptr{Cvoid}, Int64, Ptr{Int32}, Ptr{Float32}, Ptr{Float32}, Ptr{Float64}),
                c.ptr, direction, lab, prob, score, on), "polca_clustering_labels")
    (lab, prob, score, on)
end

"(direction, size, medoid, onset, plateau, hidden) of a 0-based cluster."
function cluster(c::Clustering, i::Integer)
    d, size_, med = Ref{Int64}(0), Ref{Int64}(0), Ref{Int64}(0)
    on, pl = Ref{Float64}(0), Ref{Float64}(0)
    hid = Ref{Int32}(0)
    check(ccall((:polca_clustering_cluster, libpolca), Int32,
                (Ptr{Cvoid}, Int64, Ptr{Int64}, Ptr{Int64}, Ptr{Int64}, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}),
                c.ptr, i, d, size_, med, on, pl, hid), "polca_clustering_cluster")
    (direction=d[], size=size_[], medoid=med[], onset=on[], plateau=pl[], hidden=hid[] != 0)
end

function members(c::Clustering, i::Integer)
    out = Vector{Int64}(undef, cluster(c, i).size)
    check(ccall((:polca_clustering_members, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Int64}), c.ptr, i, out),
          "polca_clustering_members")
    out
end

function mean(c::Clustering, i::Integer)
    out = Vector{Float32}(undef, shape(c)[3])
    check(ccall((:polca_clustering_mean, libpolca), Int32, (Ptr{Cvoid}, Int64, Ptr{Float32}), c.ptr, i, out),
          "polca_clustering_mean")
    out
end

function plateau(c::Clustering)
    out = Ref{Float64}(0)
    check(ccall((:polca_clustering_plateau, libpolca), Int32, (Ptr{Cvoid}, Ptr{Float64}), c.ptr, out),
          "polca_clustering_plateau")
    out[]
end

function hidden_fraction(c::Clustering)
    out = Ref{Float64}(0)
    check(ccall((:polca_clustering_hidden_fraction, libpolca), Int32, (Ptr{Cvoid}, Ptr{Float64}), c.ptr, out),
          "polca_clustering_hidden_fraction")
    out[]
end

"(homogeneity, recall, f1) per cluster for a binary label per sample."
function score(c::Clustering, label::AbstractVector)
    lab = UInt8.(label .!= 0)
    nc = shape(c)[5]
    h, r, f = Vector{Float64}(undef, nc), Vector{Float64}(undef, nc), Vector{Float64}(undef, nc)
    check(ccall((:polca_clustering_score, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{UInt8}, Ptr{Float64}, Ptr{Float64}, Ptr{Float64}), c.ptr, lab, h, r, f),
          "polca_clustering_score")
    (h, r, f)
end

"""
    score_restricted(c, label, tag, allowed; min_share=0.5)

The paper's Appendix G rule: `score` counting only the clusters whose
labelled members have a `tag` value in `allowed` for more than `min_share`
of them (0.5: more than half; exactly half does not count). `label`: 0/1
or Bool per sample; `tag`: an integer per sample; `allowed`: the tag values
that count (at least one). Returns (homogeneity, recall, f1, share,
eligible) per cluster: the scores NaN for an ineligible cluster, share NaN
for a cluster without labelled members, eligible a `Vector{Bool}`
(polca_clustering_score_restricted).
"""
function score_restricted(c::Clustering, label::AbstractVector, tag::AbstractVector{<:Integer},
                          allowed; min_share::Real=0.5)
    n, nc = shape(c)[2], shape(c)[5]
    length(label) == n || throw(DimensionMismatch("label has $(length(label)) values for $n samples"))
    length(tag) == n || throw(DimensionMismatch("tag has $(length(tag)) values for $n samples"))
    lab = UInt8.(label .!= 0)
    t = Int32.(tag)                      # InexactError for a value beyond Int32
    a = Int32[x for x in allowed]
    h, r, f, sh = (Vector{Float64}(undef, nc) for _ in 1:4)
    el = Vector{Int32}(undef, nc)
    check(ccall((:polca_clustering_score_restricted, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{UInt8}, Ptr{Int32}, Int64, Ptr{Int32}, Float64, Ptr{Float64},
                 Ptr{Float64}, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}),
                c.ptr, lab, t, length(a), a, Float64(min_share), h, r, f, sh, el),
          "polca_clustering_score_restricted")
    (h, r, f, sh, el .!= 0)
end

"(best per direction, top n_top overall): 0-based cluster indices, -1 for none."
function best(c::Clustering, label::AbstractVector; n_top::Integer=3)
    lab = UInt8.(label .!= 0)
    k = shape(c)[1]
    b = Vector{Int64}(undef, k)
    top = Vector{Int64}(undef, max(n_top, 1))
    check(ccall((:polca_clustering_best, libpolca), Int32,
                (Ptr{Cvoid}, Ptr{UInt8}, Ptr{Int64}, Int64, Ptr{Int64}), c.ptr, lab, b, n_top, top),
          "polca_clustering_best")
    (b, top[1:n_top])
end

"""
    autolabel(c, cluster, tags::Matrix{<:Integer} (positions, n); coverage=0.7, max_values=2)

For each tag position, the values that cover `coverage` of the members.
"""
function autolabel(c::Clustering, i::Integer, tags::AbstractMatrix{<:Integer}; coverage=nothing,
                   max_values::Integer=2)
    T = Matrix{Int32}(tags)
    npos = size(T, 1)
    opts = Options(; coverage, max_values)
    values = fill(Int32(-1), max_values, npos)
    count = zeros(Int32, npos)
    GC.@preserve opts check(ccall((:polca_clustering_autolabel, libpolca), Int32,
                                  (Ptr{Cvoid}, Int64, Int64, Ptr{Int32}, Ptr{Cvoid}, Ptr{Int32}, Ptr{Int32}),
                                  c.ptr, i, npos, T, optr(opts), values, count), "polca_clustering_autolabel")
    [values[1:count[p], p] for p in 1:npos]
end

export Context, Options, PolcaError, backend, device, version, set_log!, set_progress!,
       Comm, comm_rank, comm_agree, set_comm!,
       Data, tokens_data, features_data, indices_data, n_samples, n_seq, sample_at,
       subset_sequences, subset_samples,
       Model, transformer, mlp, host_model, set_callbacks!, set_layout!, kind, n_params, n_tensors, tensor_info,
       find_tensor, init, load_safetensors, save_safetensors, losses, grad, hvp, dirderivs,
       Checkpoints, create_checkpoints, import_safetensors, open_checkpoints, append_checkpoint!, layout_hash, steps,
       find_step, save, export_npy, eigen_solve,
       Basis, BASIS_KIND_HESSIAN, BASIS_KIND_HESSIAN_SHUFFLED, BASIS_KIND_RANDOM, BASIS_KIND_AXIS,
       BASIS_KIND_HOST, BASIS_KIND_HESSIAN_SCALED, BASIS_KIND_HESSIAN_SCALED_SHUFFLED,
       random_basis, axis_basis, basis_from_vectors, hessian_basis, load_basis, vector, info,
       drop!, Trajectories, trajectories, load_trajectories, TrajectoryView, final_means, decreasing,
       hdbscan, Clustering, clustering, shape, labels, cluster, members, plateau, hidden_fraction,
       score, score_restricted, best, autolabel,
       TRAJ_POLCA, TRAJ_FIRST_ORDER, TRAJ_FISHER, TRAJ_LCA, TRAJ_EXACT_LOSS, TRAJ_LOSS_CHANGE

end # module
