"""
    Polca

Julia wrappers (ccall) for libpolca: hidden breakthroughs in neural-network
training. The library is found through `ENV["POLCA_LIBRARY"]` (a path) or as
`libpolca.so.0` on the system loader's path.

Every failing call throws a `PolcaError` with the status code and the
library's message (`polca_last_error`).
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

function check(status::Int32, func::String)
    status == 0 || throw(PolcaError(status, last_error(), func))
    nothing
end

# ---- Options -------------------------------------------------------------

mutable struct Options
    ptr::Ptr{Cvoid}
end

"""
    Options(; kwargs...)

Named settings: `Options(backend="cpu", threads=2)`. Integers, floats and
strings map to the C setters. Freed by the finalizer or `close`.
"""
function Options(; kwargs...)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_options_create, libpolca), Int32, (Ptr{Ptr{Cvoid}},), ref),
          "polca_options_create")
    o = Options(ref[])
    finalizer(close, o)
    for (k, v) in kwargs
        set!(o, String(k), v)
    end
    o
end

function set!(o::Options, name::String, v::Integer)
    check(ccall((:polca_options_set_int, libpolca), Int32, (Ptr{Cvoid}, Cstring, Int64),
                o.ptr, name, v), "polca_options_set_int")
end
function set!(o::Options, name::String, v::AbstractFloat)
    check(ccall((:polca_options_set_double, libpolca), Int32, (Ptr{Cvoid}, Cstring, Float64),
                o.ptr, name, v), "polca_options_set_double")
end
function set!(o::Options, name::String, v::AbstractString)
    check(ccall((:polca_options_set_string, libpolca), Int32, (Ptr{Cvoid}, Cstring, Cstring),
                o.ptr, name, v), "polca_options_set_string")
end

function Base.close(o::Options)
    o.ptr == C_NULL && return
    ccall((:polca_options_destroy, libpolca), Cvoid, (Ptr{Cvoid},), o.ptr)
    o.ptr = C_NULL
end

# ---- Context -------------------------------------------------------------

mutable struct Context
    ptr::Ptr{Cvoid}
end

"""
    Context(; backend="auto", threads=0, ...)

The backend that computes ("auto", "cpu", "cuda"); see polca/core.h for the
options.
"""
function Context(; kwargs...)
    opts = isempty(kwargs) ? nothing : Options(; kwargs...)
    ref = Ref{Ptr{Cvoid}}(C_NULL)
    check(ccall((:polca_context_create, libpolca), Int32, (Ptr{Cvoid}, Ptr{Ptr{Cvoid}}),
                opts === nothing ? C_NULL : opts.ptr, ref), "polca_context_create")
    opts === nothing || close(opts)
    c = Context(ref[])
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

function Base.close(c::Context)
    c.ptr == C_NULL && return
    ccall((:polca_context_destroy, libpolca), Cvoid, (Ptr{Cvoid},), c.ptr)
    c.ptr = C_NULL
end

export Context, Options, PolcaError, backend, device, version

end # module
