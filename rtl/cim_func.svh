// Counter-based randomness of the macro, docs/arithmetic.md §1, as Verilog functions.
// Included inside cim_array (which imports cim_reg_pkg); no `ifndef guard needed.
//
// Every random quantity is a pure function of (SEED, stream, a, b):
//   mix32(x)                 lowbias32 finaliser, all mod 2**32
//   hash(seed, stream, a, b) = mix32(mix32(mix32(seed ^ key(stream)) ^ a) ^ b)
//   key(stream)              = ((stream + 1) * 0x9E3779B9) mod 2**32
//   z(h)                     = sum of the four bytes of h - 510        (signed, [-510, 510])
//   noise(h, sigma)          = (z(h) * sigma * 443 + 2**23) >>> 24      (signed, floor shift)
// Hot loops hash as mix32(prefix ^ b) with prefix = cim_hash_prefix(seed, stream, a)
// computed once, and scale with cim_noise_s443(h, sigma * 443) computed once per op.
// The functions are static (not automatic) on purpose: Icarus calls them faster, and
// nothing here recurses or runs concurrently.

// The stream ids (STREAM_*) and the hash constants (MIX32_MUL1, MIX32_MUL2,
// STREAM_KEY_MUL, GAUSS_BIAS, NOISE_MUL, NOISE_SHIFT) come from spec/cim_macro.toml
// [noise] through cim_reg_pkg.svh; the model (host_tools/cimtrain/model/kernels.py) takes
// the same names from the same entries.

// The hash and noise steps also as statement macros, for the per-line and per-cell loops
// of cim_array: in Icarus every function call starts a thread, and a transposed VMM of
// 150 lines made 600 of them (inline, it costs 8% fewer host instructions: rtl_bench
// --instructions).  The functions below use the same macros: one definition.
//   `CIM_MIX32(v)               v = mix32(v), in place (v: reg [31:0])
//   `CIM_GAUSS(h)               z(h), an expression (signed 32 bits)
//   `CIM_NOISE_S443(p, h, s)    p = noise of h with s = sigma * 443 (p: reg signed [63:0];
//                               the noise is p[31:0])
`define CIM_MIX32(v) \
    v = v ^ (v >> 16); \
    v = v * MIX32_MUL1; /* 32-bit context: the product wraps mod 2**32 */ \
    v = v ^ (v >> 15); \
    v = v * MIX32_MUL2; \
    v = v ^ (v >> 16);
`define CIM_GAUSS(h) \
    (32'($signed({24'd0, h[7:0]}) + $signed({24'd0, h[15:8]}) \
         + $signed({24'd0, h[23:16]}) + $signed({24'd0, h[31:24]}) - GAUSS_BIAS))
`define CIM_NOISE_S443(p, h, s) \
    p = 64'(`CIM_GAUSS(h)); /* signed: sign-extended to 64 bits */ \
    p = (p * (s) + (64'sd1 <<< (NOISE_SHIFT - 1))) >>> NOISE_SHIFT; /* round half up */

function [31:0] cim_mix32(input [31:0] x);
  reg [31:0] v;
  begin
    v = x;
    `CIM_MIX32(v)
    cim_mix32 = v;
  end
endfunction

function [31:0] cim_stream_key(input [31:0] stream);
  begin
    cim_stream_key = (stream + 32'd1) * STREAM_KEY_MUL;
  end
endfunction

// mix32(mix32(seed ^ key(stream)) ^ a): constant per op for the READ and ADC streams,
// per cell for PULSE and D2D.
function [31:0] cim_hash_prefix(input [31:0] seed, input [31:0] stream, input [31:0] a);
  begin
    cim_hash_prefix = cim_mix32(cim_mix32(seed ^ cim_stream_key(stream)) ^ a);
  end
endfunction

function [31:0] cim_hash(input [31:0] seed, input [31:0] stream, input [31:0] a,
                         input [31:0] b);
  begin
    cim_hash = cim_mix32(cim_hash_prefix(seed, stream, a) ^ b);
  end
endfunction

// Irwin-Hall sum of the four bytes, centred: [-510, 510].
function integer cim_gauss(input [31:0] h);
  begin
    cim_gauss = `CIM_GAUSS(h);
  end
endfunction

// sigma * 443 as a signed 64-bit factor (precompute once per op for cim_noise_s443).
function signed [63:0] cim_s443(input [15:0] sigma);
  begin
    cim_s443 = $signed({48'd0, sigma}) * 64'(NOISE_MUL);
  end
endfunction

// noise with a precomputed factor s443 = sigma * 443 (|z * s443| < 2**35).
function integer cim_noise_s443(input [31:0] h, input signed [63:0] s443);
  reg signed [63:0] p;
  begin
    `CIM_NOISE_S443(p, h, s443)
    cim_noise_s443 = p[31:0];  // |noise| <= 883: fits
  end
endfunction

// floor(sqrt(v)) for v < 2**62: the VMM read-noise scale of §3.  A double's square root
// lands within one of the exact root (v has up to 62 bits, a double 53), and the integer
// checks below make it exact (tested against the bit-by-bit root it replaced and the
// model).  In Icarus the bit-by-bit root, 31 steps of a 64-bit multiply, cost about 4%
// of a small VMM's simulation.  Behavioural, like the rest of the array model.
function [63:0] cim_isqrt64(input [63:0] v);
  reg [63:0] r;
  begin
    r = 64'(longint'($sqrt(real'(v))));  // round to nearest
    if (r * r > v) r = r - 64'd1;
    if ((r + 64'd1) * (r + 64'd1) <= v) r = r + 64'd1;
    cim_isqrt64 = r;
  end
endfunction

// noise(h, sigma) of §1; sigma in Q8.8; sigma = 0 gives exactly 0.
function integer cim_noise(input [31:0] h, input [15:0] sigma);
  begin
    cim_noise = cim_noise_s443(h, cim_s443(sigma));
  end
endfunction
