// CSegcKernels: the C kernels of segc. One header lists every entry point;
// each is bounds-checked by its caller (the plan is verified before it runs).
//
// Conventions
// * Activations are NCHW float32, batch 1 (the executor asserts N = 1; kernels see
//   [C, H, W] planes). Sizes are int64_t.
// * Kernels never allocate. Work that needs temporary memory receives a workspace
//   (`segc_ws`): `per_thread` floats for each pool thread plus a `shared` region; the
//   `*_ws` query functions give the sizes.
// * Work is split into tasks over output tiles whose size depends only on the shapes,
//   never on the thread count, so results are bit-identical for any thread count.
// * Kernels return 0 on success and a negative `SEGC_E*` code on invalid arguments;
//   they never assert.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) of `len` bytes,
/// continuing from `crc` (start with 0). Uses SSE4.2 when the CPU has it.
uint32_t segc_crc32c(uint32_t crc, const void *data, size_t len);

// ---------------------------------------------------------------------------
// Error codes
enum {
    SEGC_OK = 0,
    SEGC_EINVAL = -1,    ///< invalid argument (shape, attribute)
    SEGC_ERANGE = -2,    ///< an index (max_unpool2d) lies outside the output plane
    SEGC_ENOSPC = -3,    ///< workspace too small
    SEGC_EUNSUP = -4,    ///< valid but not implemented (e.g. rank > 4)
    SEGC_ENOMEM = -5,    ///< a temporary allocation failed
};

// ---------------------------------------------------------------------------
// Initialisation, CPU features, dispatch

/// Once per process (idempotent, thread-safe): reads CPU features and fills the
/// dispatch table.
void segc_kernels_init(void);
/// "avx512", "avx2" or "scalar": the level the dispatch table uses.
const char *segc_cpu_level(void);
/// Forces a level (0 scalar, 1 avx2, 2 avx512); clamped to what the CPU has.
/// Returns the level in effect. Process-wide: set it before sessions run.
int segc_set_cpu_level(int level);
/// The highest level this CPU supports (0 scalar, 1 avx2, 2 avx512).
int segc_detected_cpu_level(void);
/// Online CPUs (>= 1).
int segc_cpu_count(void);
/// Asks the kernel to back the 2 MiB-aligned part of [p, p + bytes) with transparent huge
/// pages (madvise MADV_HUGEPAGE; a no-op where THP is off). Call before the memory is first
/// touched. For the session's arena, workspace and prepared weights, which every conv walks
/// in strides of a plane or a tile row: with 4 KiB pages those walks miss the TLB.
/// `SEGC_HUGE_PAGES=0` in the environment turns it off (steadier session creation).
void segc_advise_huge_pages(void *p, uint64_t bytes);
/// Heap statistics for tests (glibc mallinfo2): bytes in use, mmap'd bytes, mmap'd blocks.
void segc_heap_stats(uint64_t out[3]);

// ---------------------------------------------------------------------------
// Thread pool

typedef struct segc_pool segc_pool;
/// A task: `task` in [0, ntasks), `thread` in [0, threads) (0 = the calling thread).
typedef void (*segc_task_fn)(void *ctx, int64_t task, int thread);

/// Creates a pool of `threads` (>= 1; the caller is thread 0, so `threads - 1`
/// workers are started). Returns NULL on failure.
segc_pool *segc_pool_create(int threads);
void segc_pool_destroy(segc_pool *pool);
int segc_pool_threads(const segc_pool *pool);
/// Runs `fn(ctx, t, thread)` for every t in [0, ntasks) and waits. No allocation.
/// `pool` may be NULL (runs on the caller). Not reentrant: one caller at a time.
void segc_pool_run(segc_pool *pool, segc_task_fn fn, void *ctx, int64_t ntasks);

/// Workspace handed to kernels.
typedef struct {
    float *base;          ///< thread t uses base[t*per_thread ..< (t+1)*per_thread]
    int64_t per_thread;   ///< floats per thread
    int threads;          ///< number of per-thread regions
    float *shared;        ///< shared region (tables), `shared_count` floats
    int64_t shared_count;
} segc_ws;

// ---------------------------------------------------------------------------
// GEMM (gemm/gemm.h): segc's own, position-independent at every level.

/// Floats of scratch `segc_sgemm` needs for an M x K left operand.
int64_t segc_sgemm_scratch(int64_t m, int64_t k);
/// C[M x N] (ldc) = (accumulate ? C : 0) + A[M x K] (lda) · B[K x N] (ldb), row-major,
/// single-threaded; element C[m][n] is the k-ordered chain of fused multiply-adds
/// (`exact`: multiply then add; the scalar level always multiplies then adds).
void segc_sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                int64_t ldc, int accumulate, int exact, float *scratch);

// ---------------------------------------------------------------------------
// Convolutions

enum { SEGC_ACT_NONE = 0, SEGC_ACT_RELU = 1, SEGC_ACT_PRELU = 2 };

/// conv2d: x [cin, h, w], weight [cout, cin/groups, kh, kw], y [cout, oh, ow].
/// Epilogue: + bias[co] (optional), + residual (same shape as y, optional; may alias y),
/// then activation (prelu slope: nslope = 1 or cout).
typedef struct {
    int64_t cin, h, w, cout, oh, ow;
    int64_t kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t act;
    /// 1: reference-exact arithmetic (plan algorithm `exact`): every output is
    /// ((Σ_k in (ci, ky, kx) order, multiply then add, from 0) + bias) + residual, then
    /// the activation — the reference interpreter's bits at every dispatch level. Used
    /// upstream of index-returning max pools, whose ties must not move (networks.md §2).
    int32_t exact;
    int64_t nslope;
    /// Weights prepared once by `segc_conv2d_prepare` (conv2d only; NULL: the call
    /// transforms and packs its weights itself, in the shared workspace).
    const float *prepared;
} segc_conv_params;

/// Floats `segc_conv2d_prepare` writes for `p`: the weights in the form the path chosen
/// for `p` multiplies (Winograd's transformed U, GEMM panels), 0 when that path has
/// nothing to prepare (direct). The same at every dispatch level.
int64_t segc_conv2d_prepared_size(const segc_conv_params *p);
/// Transforms and packs `weight` once for the current dispatch level (the buffer records
/// it: a call at another level takes the unprepared path). With `p->prepared` pointing at
/// the result, `segc_conv2d` skips that work and needs less shared workspace
/// (`segc_conv2d_ws_shared` reads `p->prepared`). Results are bit-identical either way.
int segc_conv2d_prepare(const segc_conv_params *p, const float *weight, float *prepared);

/// Per-thread workspace floats for `segc_conv2d`.
int64_t segc_conv2d_ws(const segc_conv_params *p);
/// Shared workspace floats for `segc_conv2d` (per-tap packed weights of vertical convs).
int64_t segc_conv2d_ws_shared(const segc_conv_params *p);
int segc_conv2d(segc_pool *pool, const segc_conv_params *p, const float *x, const float *weight,
                const float *bias, const float *residual, const float *slope, float *y, const segc_ws *ws);

/// A tail after the conv's own epilogue: y = act(conv + res), the `add` and `relu`/`prelu`
/// that follow a conv with its own activation (ENet's bottleneck: conv → PReLU, + main
/// branch, PReLU). Each element is computed as the separate ops would (add, then the
/// activation), so the result has their bits. `res` may alias y exactly; the conv must
/// have no residual of its own.
typedef struct {
    const float *res;
    const float *slope;   ///< prelu: nslope = 1 or cout
    int32_t act;
    int64_t nslope;
} segc_conv_tail;

/// 1 when the path `segc_conv2d` picks for `p` runs a tail (direct and GEMM paths).
int segc_conv2d_tail_supported(const segc_conv_params *p);
/// Per-thread workspace floats for `segc_conv2d_tail` (>= `segc_conv2d_ws`).
int64_t segc_conv2d_tail_ws(const segc_conv_params *p);
/// `segc_conv2d` followed by `tail` (NULL: no tail).
int segc_conv2d_tail(segc_pool *pool, const segc_conv_params *p, const float *x, const float *weight,
                     const float *bias, const float *slope, const segc_conv_tail *tail, float *y, const segc_ws *ws);

/// conv_transpose2d: x [cin, h, w], weight [cin, cout/groups, kh, kw], y [cout, oh, ow]
/// where y[co, iy*sh - pt + ky*dh, ix*sw - pl + kx*dw] += x[ci, iy, ix] * w[ci, co, ky, kx].
/// The weight is first re-arranged once (`segc_convt_pack`) into one GEMM matrix per
/// (group, output phase). Same epilogue as conv2d.
typedef segc_conv_params segc_convt_params;
/// Floats of the packed weight (or a negative error code).
int64_t segc_convt_packed_size(const segc_convt_params *p);
int segc_convt_pack(const segc_convt_params *p, const float *weight, float *packed);
int64_t segc_convt_ws(const segc_convt_params *p);
int segc_conv_transpose2d(segc_pool *pool, const segc_convt_params *p, const float *x, const float *packed,
                          const float *bias, const float *residual, const float *slope, float *y,
                          const segc_ws *ws);

// ---------------------------------------------------------------------------
// Pooling

/// Window geometry shared by max/avg pooling: x [c, h, w] -> y [c, oh, ow].
/// Window of output (oy, ox) covers rows oy*sh - pt + ky*dh, ky < kh (same for columns).
/// `pb`/`pr` only matter for avg pooling with count_include_pad.
typedef struct {
    int64_t c, h, w, oh, ow;
    int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    int32_t count_include_pad;
} segc_pool_params;

/// Max pooling over a −∞-padded input; the first maximum in row-major window order
/// wins (strict >). `indices` (nullable): int64 flat h*w_in + w in the input plane.
int segc_max_pool2d(segc_pool *pool, const segc_pool_params *p, const float *x, float *y, int64_t *indices);
/// Average pooling, PyTorch divisor rule (count_include_pad counts padded taps up to
/// h + pb / w + pr, never beyond).
int segc_avg_pool2d(segc_pool *pool, const segc_pool_params *p, const float *x, float *y);
/// y [c, oh, ow] zeroed, then y[c, indices[c, i]] = x[c, i] for each input position.
/// Every index is checked first: any index outside [0, oh*ow) returns SEGC_ERANGE
/// and nothing is written.
int segc_max_unpool2d(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                      const float *x, const int64_t *indices, float *y);
/// y[c] = mean over the plane of x[c] (plane = hw floats).
int segc_global_avg_pool(segc_pool *pool, int64_t c, int64_t hw, const float *x, float *y);

// ---------------------------------------------------------------------------
// Resize

enum { SEGC_RESIZE_NEAREST = 0, SEGC_RESIZE_LINEAR = 1, SEGC_RESIZE_CUBIC = 2 };
enum { SEGC_COORD_HALF_PIXEL = 0, SEGC_COORD_PYTORCH_HALF_PIXEL = 1, SEGC_COORD_ALIGN_CORNERS = 2,
       SEGC_COORD_ASYMMETRIC = 3, SEGC_COORD_HALF_PIXEL_SYMMETRIC = 4, SEGC_COORD_TF_CROP_AND_RESIZE = 5 };
enum { SEGC_NEAREST_FLOOR = 0, SEGC_NEAREST_CEIL = 1, SEGC_NEAREST_ROUND_PREFER_FLOOR = 2,
       SEGC_NEAREST_ROUND_PREFER_CEIL = 3 };

/// Shared-workspace floats for `segc_resize`.
int64_t segc_resize_ws(int64_t oh, int64_t ow);

/// ONNX Resize in full (opset 19 semantics, onnx's reference implementation): any mode
/// (nearest, linear, cubic), any coordinate transformation including
/// `half_pixel_symmetric` and `tf_crop_and_resize`, explicit scale factors (which the
/// coordinate transform uses instead of the size ratio), `antialias`, `exclude_outside`,
/// `cubic_coeff_a`, `extrapolation_value`. Per axis (H then W): scale, roi start/end.
typedef struct {
    int32_t mode, coord, nearest, exclude_outside, antialias;
    float scale_h, scale_w, cubic_a, extrapolation;
    float roi_h0, roi_w0, roi_h1, roi_w1;
} segc_resize_params;
/// Taps per output row/column (0: invalid parameters).
int64_t segc_resize_general_taps(const segc_resize_params *p, int64_t in, float scale);
/// Shared-workspace floats for `segc_resize_general`.
int64_t segc_resize_general_ws(const segc_resize_params *p, int64_t oh, int64_t ow);
int segc_resize_general(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                        const segc_resize_params *p, const float *x, float *y, const segc_ws *ws);
/// x [c, h, w] -> y [c, oh, ow]. Linear: PyTorch bilinear semantics (negative source
/// clamped to 0, upper neighbour clamped to the last row/column).
int segc_resize(segc_pool *pool, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                int32_t mode, int32_t coord, int32_t nearest, const float *x, float *y, const segc_ws *ws);

// ---------------------------------------------------------------------------
// Elementwise

enum { SEGC_BIN_ADD = 0, SEGC_BIN_SUB = 1, SEGC_BIN_MUL = 2, SEGC_BIN_DIV = 3 };

/// y = a op b with numpy broadcasting. Shapes are given right-aligned at rank 4 (pad
/// with leading 1s); `ashape`/`bshape` dims must equal `yshape` dims or be 1.
int segc_binary(segc_pool *pool, int32_t op, const int64_t yshape[4], const float *a, const int64_t ashape[4],
                const float *b, const int64_t bshape[4], float *y);
/// y = max(x, 0) (may be in place).
int segc_relu(segc_pool *pool, int64_t n, const float *x, float *y);
/// y = 1 / (1 + exp(-x)).
int segc_sigmoid(segc_pool *pool, int64_t n, const float *x, float *y);
/// y = max(0,x) + slope·min(0,x), slope per channel (nslope = c) or shared (nslope = 1).
int segc_prelu(segc_pool *pool, int64_t c, int64_t hw, const float *x, const float *slope, int64_t nslope, float *y);
/// y[c, i] = x[c, i]·scale[c] + bias[c].
/// ONNX BatchNormalization with training_mode=1: x [n, c, hw] normalised with its own
/// per-channel mean and (population) variance over n·hw; params [4, c] = scale, bias,
/// input running mean, input running variance; stats [2, c] = the updated running mean and
/// variance (input·momentum + current·(1 − momentum)). Sums in double.
int segc_batchnorm_training(segc_pool *pool, int64_t n, int64_t c, int64_t hw, const float *x, const float *params,
                            float epsilon, float momentum, float *y, float *stats);
int segc_channel_affine(segc_pool *pool, int64_t c, int64_t hw, const float *x, const float *scale,
                        const float *bias, float *y);
/// Copies `src` (outer × inner floats, rows of `inner`) into `dst` rows of `dst_inner`
/// at column `offset` (concat along an axis: inner = size(axis)·product(dims after)).
int segc_copy_rows(segc_pool *pool, int64_t outer, int64_t inner, const float *src, float *dst,
                   int64_t dst_inner, int64_t offset);
/// Constant pad of a rank-4 (right-aligned) tensor; pads[i] = before dim i, pads[4+i] = after.
/// A negative pad crops (ONNX Slice of a runtime tensor); every output dimension stays >= 1.
int segc_pad(segc_pool *pool, const int64_t xshape[4], const int64_t pads[8], float value, const float *x, float *y);
/// Softmax over the middle axis of [outer, c, inner]. Per-thread workspace: `segc_softmax_ws`.
int64_t segc_softmax_ws(void);
int segc_softmax(segc_pool *pool, int64_t outer, int64_t c, int64_t inner, const float *x, float *y, const segc_ws *ws);
/// Simulated int8 (ONNX QuantizeLinear then DequantizeLinear, per-tensor), in float32:
/// r = nearbyintf(x / scale) (round half to even), clamped to [qmin - zp, qmax - zp]
/// (NaN -> qmin - zp); y = r * scale. Requires scale finite > 0, qmin <= zp <= qmax,
/// qmin < qmax. May be in place.
int segc_quantize_dequantize(segc_pool *pool, int64_t n, float scale, int64_t zero_point, int64_t qmin, int64_t qmax,
                             const float *x, float *y);

// ---------------------------------------------------------------------------
// int8 (quant/, arch/x86/qconv_*.c): uint8 activations with a per-tensor zero point,
// int8 weights symmetric per output channel, int32 accumulation, float32
// requantization. Every dispatch level and every thread count computes exactly the
// scalar reference's integers and floats (requantization is compiled without FMA
// contraction: `#pragma clang fp contract(off)` in every file that does it).

/// Quantized conv2d (`transposed` = 0) and conv_transpose2d (`transposed` = 1).
/// Geometry as `segc_conv_params` (x [cin, h, w] -> y [cout, oh, ow]; conv weight
/// [cout, cin/groups, kh, kw], transposed weight [cin, cout/groups, kh, kw] with
/// y[co, iy*sh - pt + ky*dh, ix*sw - pl + kx*dw] += x[ci, iy, ix]·w[ci, co, ky, kx]).
/// For each output (co, oy, ox):
///   acc = bias[co] + Σ_taps (x − x_zp)·w          int32; taps outside the input add 0
///   v   = (float)acc · mult[co]                    float32
///   v   = v + (float)(residual − r_zp) · r_mul     when residual != NULL (u8, y's shape)
///   v   = act(v)                                   relu: v > 0 ? v : 0;
///                                                  prelu: v > 0 ? v : v · slope[nslope == 1 ? 0 : co]
///   y   = out_f32 ? v (float) : (uint8)(clamp(nearbyintf(v), −y_zp, 255 − y_zp) + y_zp)
typedef struct {
    int64_t cin, h, w, cout, oh, ow;
    int64_t kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t act;        ///< SEGC_ACT_NONE / RELU / PRELU
    int32_t out_f32;    ///< 1: y is float32 (v itself), 0: y is uint8
    int32_t x_zp, y_zp, r_zp;   ///< zero points, each in [0, 255]
    float r_mul;        ///< residual multiplier (its scale / y's scale; its scale when out_f32)
    int64_t nslope;     ///< 1 or cout (prelu)
} segc_qconv_params;

/// Bytes of the packed weights for the current dispatch level (or a negative error).
int64_t segc_qconv_packed_bytes(const segc_qconv_params *p, int transposed);
/// Packs `w` (int8, the plan's layout above) and `bias` (int32, nullable = zeros) for the
/// current dispatch level into `packed` (64-byte aligned, `segc_qconv_packed_bytes`); the
/// zero-point term −x_zp·Σw is folded into the packed bias. The packed buffer records its
/// level: `segc_qconv2d` runs that level's kernel whatever the current level is.
int segc_qconv_pack(const segc_qconv_params *p, int transposed, const int8_t *w, const int32_t *bias, void *packed);
/// The inner kernel `segc_qconv_pack` chooses now (current level, this CPU, SEGC_NO_VNNI):
/// "scalar", "avx2/vpmaddwd", "avx2/avx-vnni", "avx512/vpmaddwd" or "avx512/vnni". The
/// VNNI kernels need the CPU's AVX-VNNI resp. AVX-512 VNNI; SEGC_NO_VNNI=1 (read when
/// packing) makes both levels use vpmaddwd on int16 pairs. Same results either way.
const char *segc_qconv_kernel(void);
/// Per-thread workspace floats (for the packed buffer's level, i.e. the current level).
int64_t segc_qconv_ws(const segc_qconv_params *p, int transposed);
/// Runs the quantized convolution (`transposed` as packed). `y` is uint8 or float (out_f32).
int segc_qconv2d(segc_pool *pool, const segc_qconv_params *p, int transposed, const uint8_t *x, const void *packed,
                 const float *mult, const uint8_t *residual, const float *slope, void *y, const segc_ws *ws);

/// A float tail after an int8 conv with float output (out_f32, no residual of its own): the
/// `add`, `relu`/`prelu` and optional `quantize` that follow it in an int8 plan (ENet's
/// bottleneck ends: conv → PReLU, + the float main branch, PReLU, quantized for the next
/// int8 conv). Per element k of the conv's output c (written to y as without a tail):
///   v = conv_first ? c[k] + res[k] : res[k] + c[k];  v = act(v, slope);  out[k] = v;
///   q[k] = the `segc_quantize_u8` of v (q_scale, q_zp)   when q != NULL
/// — the separate ops' arithmetic, so their bits. Each task applies it to the outputs it
/// has just computed, while they are in cache. `out` may be `res` or y exactly; it and `q`
/// must not overlap x, and `q` none of the float tensors (the runtime checks both).
typedef struct {
    const float *res;
    const float *slope;   ///< prelu: nslope = 1 or cout
    float *out;
    uint8_t *q;           ///< nullable
    float q_scale;
    int32_t q_zp;
    int32_t act;          ///< SEGC_ACT_RELU / SEGC_ACT_PRELU
    int32_t conv_first;
    int64_t nslope;
} segc_qconv_tail;

/// `segc_qconv2d` followed by `tail` (not transposed; p->out_f32 = 1 and no residual).
int segc_qconv2d_tail(segc_pool *pool, const segc_qconv_params *p, const uint8_t *x, const void *packed,
                      const float *mult, const float *slope, float *y, const segc_qconv_tail *tail, const segc_ws *ws);

/// y = clamp(nearbyintf(x / scale), −zp, 255 − zp) + zp (x / scale a float32 division,
/// round half to even; NaN -> 0): ONNX QuantizeLinear to uint8.
int segc_quantize_u8(segc_pool *pool, int64_t n, float scale, int32_t zp, const float *x, uint8_t *y);
/// y = (float)(x − zp) · scale: ONNX DequantizeLinear from uint8.
int segc_dequantize_u8(segc_pool *pool, int64_t n, float scale, int32_t zp, const uint8_t *x, float *y);
/// How many of the n bytes at x equal v (the range guard counts codes saturated at 255).
/// `pool` may be NULL. n <= 0 or a NULL x gives 0.
int64_t segc_count_u8(segc_pool *pool, int64_t n, uint8_t v, const uint8_t *x);
/// Per-channel affine on uint8: v = (float)(x[c, i] − x_zp)·mul[c] + add[c] (multiply, then
/// add); relu: v = v > 0 ? v : 0; y = clamp(nearbyintf(v), −y_zp, 255 − y_zp) + y_zp.
int segc_qaffine_u8(segc_pool *pool, int64_t c, int64_t hw, int32_t x_zp, int32_t y_zp, int32_t relu,
                    const uint8_t *x, const float *mul, const float *add, uint8_t *y);
/// Max pooling on uint8, semantics of `segc_max_pool2d` (padding never wins; first maximum
/// in row-major window order; `indices` nullable).
int segc_max_pool2d_u8(segc_pool *pool, const segc_pool_params *p, const uint8_t *x, uint8_t *y, int64_t *indices);
/// `segc_copy_rows` on bytes (concat of uint8 tensors).
int segc_copy_rows_u8(segc_pool *pool, int64_t outer, int64_t inner, const uint8_t *src, uint8_t *dst,
                      int64_t dst_inner, int64_t offset);

// ---------------------------------------------------------------------------
// Executor descriptors: the runtime turns each plan op into one or more `segc_op`
// values at session creation (pointers already resolved into the arena and the
// prepared weights); running a plan is then a loop of `segc_exec` calls.

enum {
    SEGC_OP_CONV = 1, SEGC_OP_CONVT = 2, SEGC_OP_MAXPOOL = 3, SEGC_OP_AVGPOOL = 4, SEGC_OP_UNPOOL = 5,
    SEGC_OP_GAP = 6, SEGC_OP_RESIZE = 7, SEGC_OP_BINARY = 8, SEGC_OP_RELU = 9, SEGC_OP_PRELU = 10,
    SEGC_OP_SIGMOID = 11, SEGC_OP_AFFINE = 12, SEGC_OP_COPY_ROWS = 13, SEGC_OP_PAD = 14, SEGC_OP_SOFTMAX = 15,
    SEGC_OP_QDQ = 16, SEGC_OP_RESIZE_GENERAL = 17, SEGC_OP_BN_TRAINING = 18,
    SEGC_OP_QCONV = 19, SEGC_OP_QUANTIZE = 20, SEGC_OP_DEQUANTIZE = 21, SEGC_OP_QAFFINE = 22, SEGC_OP_MAXPOOL_U8 = 23,
    SEGC_OP_COPY_ROWS_U8 = 24,
};

/// One kernel call. Field use per kind:
/// * CONV/CONVT: conv; in0 = x, in1 = residual (nullable), w0 = weight (CONVT: packed),
///   w1 = bias (nullable), w2 = slope (nullable); out0 = y.
/// * MAXPOOL/AVGPOOL: pool; in0 = x, out0 = y, out_idx = indices (nullable).
/// * UNPOOL: d[0..4] = c h w oh ow; in0 = x, in_idx = indices, out0 = y.
/// * GAP: d[0] = c, d[1] = hw. RELU/SIGMOID: d[0] = n. PRELU: d = c hw nslope, w0 = slope.
///   AFFINE: d = c hw, w0 = scale, w1 = bias.
/// * RESIZE: d = c h w oh ow mode coord nearest. RESIZE_GENERAL: d = c h w oh ow; resize = parameters.
/// * BINARY: sub = op, d[0..3] = y shape, d[4..7] = a shape, d[8..11] = b shape; in0 = a, in1 = b.
/// * COPY_ROWS: d = outer inner dst_inner offset.
/// * PAD: d[0..3] = x shape, d[4..11] = pads; fval = value.
/// * SOFTMAX: d = outer c inner.
/// * QDQ: d = n zero_point qmin qmax; fval = scale.
/// * int8 ops: the pointers stay typed `float *`; the executor casts them to the real
///   element types (uint8 activations, packed bytes).
/// * QCONV: sub = transposed; qconv; in0 = x (u8), in1 = residual (u8, nullable),
///   w0 = packed (segc_qconv_pack), w1 = mult, w2 = slope (nullable); out0 = y (u8, or f32
///   when qconv.out_f32).
/// * QUANTIZE: d[0] = n, d[1] = zp, fval = scale; in0 (f32) -> out0 (u8).
///   DEQUANTIZE: same fields; in0 (u8) -> out0 (f32).
/// * QAFFINE: d = c hw x_zp y_zp relu; in0 (u8), w0 = mul, w1 = add; out0 (u8).
/// * MAXPOOL_U8: pool; in0 (u8), out0 (u8), out_idx = indices (nullable).
/// * COPY_ROWS_U8: d = outer inner dst_inner offset (bytes); in0, out0 (u8).
typedef struct {
    int32_t kind;
    int32_t sub;
    segc_conv_params conv;
    segc_pool_params pool;
    segc_qconv_params qconv;
    const float *in0, *in1, *w0, *w1, *w2;
    const int64_t *in_idx;
    float *out0;
    int64_t *out_idx;
    float *out1;
    int64_t d[12];
    float fval, fval2;
    segc_resize_params resize;
    segc_conv_tail tail;   ///< CONV: applied when tail.res is set (segc_conv2d_tail)
    segc_qconv_tail qtail; ///< QCONV: applied when qtail.res is set (segc_qconv2d_tail)
} segc_op;

/// Runs one descriptor. Returns 0 or a negative `SEGC_E*` code.
int segc_exec(segc_pool *pool, const segc_op *op, const segc_ws *ws);

#ifdef __cplusplus
}
#endif
